"""JSON-lines logs on stderr with a request id; one access line per request.

Only the path is logged, never the query string or form: both can carry codes and passwords.
"""

from __future__ import annotations

import json
import logging
import secrets
import sys
import time

from flask import Flask, Response, g, has_request_context, request

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message"}


def _timestamp(created: float) -> str:
    """ISO 8601 UTC with milliseconds, without building a datetime (one per log line)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + \
        f".{int(created % 1 * 1000):03d}+00:00"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": _timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if has_request_context():
            entry["request_id"] = g.get("request_id")
        fields = record.__dict__.get("fields")
        if isinstance(fields, dict):  # the access line passes its fields in one dict
            entry.update(fields)
        else:
            entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(level: str) -> None:
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        root.setLevel(level)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # we write our own access line
    logging.getLogger("alembic").setLevel(logging.WARNING)  # `tnid init` says what it did


def init_app(app: Flask) -> None:
    access = logging.getLogger("tnid.access")

    @app.before_request
    def start_timer() -> None:
        g.request_id = secrets.token_hex(8)
        g.started = time.perf_counter()

    @app.after_request
    def log_request(response: Response) -> Response:
        if request.path.startswith("/static/"):
            return response
        elapsed = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        if access.isEnabledFor(logging.INFO):
            access.info("request", extra={"fields": {
                "method": request.method, "path": request.path[:200],
                "status": response.status_code, "ms": round(elapsed, 2),
                "ip": request.remote_addr}})
        response.headers["X-Request-Id"] = g.get("request_id", "")
        return response
