"""Token endpoint (RFC 6749 §3.2): codes, refresh tokens and client credentials for tokens.

authlib validates the grant; this module only insists on a form body and commits what the
grant wrote — also when it fails, because a replayed code or refresh token revokes tokens.
"""

from __future__ import annotations

from flask import Response, jsonify, request

from idp.extensions import db, limiter
from idp.oidc import bp, context


@bp.post("/token")
@limiter.exempt
def token() -> Response:
    if request.mimetype != "application/x-www-form-urlencoded":
        return _error("invalid_request", "The body must be application/x-www-form-urlencoded.")
    try:
        response = context.server().create_token_response()
    except Exception:
        db.session.rollback()
        raise
    db.session.commit()
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def _error(error: str, description: str, status: int = 400) -> Response:
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response
