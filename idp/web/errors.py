"""Error pages in the reader's language (HTML) or JSON for API callers; never a stack trace."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from idp.extensions import db

log = logging.getLogger(__name__)

MESSAGES = {
    400: _l("The request could not be understood. Please go back and try again."),
    403: _l("You do not have permission to open this page."),
    404: _l("This page does not exist."),
    405: _l("This page cannot be used this way."),
    413: _l("What you sent is too large."),
    415: _l("This kind of content is not accepted here."),
    429: _l("Too many attempts. Please try again in a few minutes."),
    500: _l("Something went wrong on our side. Please try again later."),
    503: _l("The service is temporarily unavailable. Please try again in a few minutes."),
}
CSRF_MESSAGE = _l("This form has expired. Please open the page again and retry.")


def wants_json() -> bool:
    from idp.oidc import API_PATHS  # machine-to-machine endpoints always answer in JSON

    if request.path.startswith(API_PATHS):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return request.is_json or best == "application/json"


def error_response(status: int, message: str | None = None) -> tuple[Response | str, int]:
    text = str(message or MESSAGES.get(status, MESSAGES[500]))
    if wants_json():
        return jsonify(error=_json_code(status), error_description=text), status
    try:
        return render_template("errors/error.html", status=status, message=text), status
    except Exception:  # an error page must never fail: fall back to plain text
        log.exception("error page failed to render")
        return Response(text, status=status, mimetype="text/plain"), status


def _json_code(status: int) -> str:
    return {400: "invalid_request", 403: "access_denied", 404: "not_found",
            405: "method_not_allowed", 413: "request_too_large", 415: "unsupported_media_type",
            429: "slow_down", 503: "temporarily_unavailable"}.get(status, "server_error")


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):  # noqa: ANN202
        return error_response(400, CSRF_MESSAGE)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):  # noqa: ANN202
        status = error.code if error.code in MESSAGES else 400
        response = app.make_response(error_response(status))
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(OperationalError)
    def database_unavailable(error: OperationalError):  # noqa: ANN202
        log.error("database unavailable", extra={"error": type(error.orig).__name__})
        db.session.rollback()
        return error_response(503)

    @app.errorhandler(SQLAlchemyError)
    @app.errorhandler(Exception)
    def unexpected(error: Exception):  # noqa: ANN202
        log.exception("unhandled error")
        try:
            db.session.rollback()
        except SQLAlchemyError:
            pass
        return error_response(500)
