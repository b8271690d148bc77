"""The provider's public keys (RFC 7517): the next, active and recently retired keys."""

from __future__ import annotations

from flask import Response, request

from idp.extensions import db, limiter
from idp.oidc import bp
from idp.oidc.userinfo import method_not_allowed
from idp.services import keys
from idp.services.clock import utcnow


@bp.route("/jwks", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
@limiter.exempt
def jwks() -> Response:
    if request.method != "GET":
        return method_not_allowed(("GET",))
    response = Response(keys.published_jwks_body(db.session, utcnow()),
                        mimetype="application/json")
    # Short: a rotation publishes the next key well before it signs (see services.keys).
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
