"""JSON-lines logs on stderr with a request id; one access line per request.

Only the path is logged, never the query string or form: both can carry codes and passwords.

Access lines are buffered (like nginx's ``access_log ... buffer= flush=``): they are written
together at least every ``ACCESS_FLUSH_SECONDS``, before any other line, when
``ACCESS_BUFFER_LINES`` are waiting, and at exit. Every other line (audit events, errors,
warnings) is written and flushed at once, as before. What this costs: a worker killed with
SIGKILL (or an out-of-memory kill) loses at most half a second of access lines; a normal
stop, restart or crash with a Python exception writes them.
"""

from __future__ import annotations

import json
import logging
import os
import random
import sys
import threading
import time
from typing import Any, TextIO

from flask import Flask, Response, g, has_request_context, request

ACCESS_LOGGER = "tnid.access"
ACCESS_FLUSH_SECONDS = 0.5
ACCESS_BUFFER_LINES = 256

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message"}
# json.dumps(..., ensure_ascii=False, default=str) builds this encoder anew on every call.
_encode = json.JSONEncoder(ensure_ascii=False, default=str).encode
_second: tuple[int, str] = (-1, "")


def _timestamp(created: float) -> str:
    """ISO 8601 UTC with milliseconds; the part up to the second is formatted once a second."""
    global _second
    whole = int(created)
    second, prefix = _second
    if second != whole:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        _second = (whole, prefix)
    return f"{prefix}.{int(created % 1 * 1000):03d}+00:00"


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
        return _encode(entry)


class JsonLinesHandler(logging.StreamHandler):
    """A stream handler that holds access lines back (see the module docstring): one write
    every half second instead of a write and a flush on every request."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._pending: list[str] = []
        self._flusher_pid: int | None = None
        self._wake = threading.Event()
        os.register_at_fork(after_in_child=self._forget_inherited)

    def emit(self, record: logging.LogRecord) -> None:  # called with self.lock held
        if record.name != ACCESS_LOGGER:
            self._write_pending()  # keep the lines in order
            super().emit(record)
            return
        try:
            line = self.format(record)
        except Exception:  # noqa: BLE001 — logging never raises into the request
            self.handleError(record)
            return
        self._hold(line)

    def emit_access_line(self, line: str) -> None:
        """An access line already formatted (``log_request``'s short path)."""
        with self.lock:
            self._hold(line)

    def _hold(self, line: str) -> None:  # called with self.lock held
        self._pending.append(line + self.terminator)
        if len(self._pending) >= ACCESS_BUFFER_LINES:
            self.flush()
        elif len(self._pending) == 1:
            self._flush_soon()

    def flush(self) -> None:
        with self.lock:
            self._write_pending()
            super().flush()

    def _write_pending(self) -> None:
        if self._pending:
            lines, self._pending = "".join(self._pending), []
            try:
                self.stream.write(lines)
            except Exception:  # noqa: BLE001 — as StreamHandler.emit: report, never raise
                self.handleError(logging.makeLogRecord({"msg": "access log write failed"}))

    def _flush_soon(self) -> None:
        if self._flusher_pid != os.getpid():  # first access line of this process
            self._flusher_pid = os.getpid()
            threading.Thread(target=self._flush_every, name="tnid-access-log",
                             daemon=True).start()
        self._wake.set()

    def _flush_every(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(ACCESS_FLUSH_SECONDS)
            with self.lock:
                self._wake.clear()
                self.flush()

    def _forget_inherited(self) -> None:
        """A forked child writes its own lines: the parent's pending ones are the parent's,
        and the parent's flusher thread does not exist here."""
        self._pending = []
        self._flusher_pid = None
        self._wake = threading.Event()


def configure(level: str) -> None:
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        root.setLevel(level)
        return
    handler = JsonLinesHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # we write our own access line
    logging.getLogger("alembic").setLevel(logging.WARNING)  # `tnid init` says what it did


def init_app(app: Flask) -> None:
    access = logging.getLogger(ACCESS_LOGGER)

    @app.before_request
    def start_timer() -> None:
        g.request_id = new_request_id()
        g.started = time.perf_counter()

    @app.after_request
    def log_request(response: Response) -> Response:
        path = request.path
        if path.startswith("/static/"):
            return response
        request_id = g.get("request_id")
        if access.isEnabledFor(logging.INFO):
            elapsed = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
            fields = {"method": request.method, "path": path[:200],
                      "status": response.status_code, "ms": round(elapsed, 2),
                      "ip": request.remote_addr}
            handler = _sole_json_handler(access)
            if handler is not None:
                # What JsonFormatter would write for the record, without building one.
                handler.emit_access_line(_encode({
                    "ts": _timestamp(time.time()), "level": "INFO", "logger": ACCESS_LOGGER,
                    "msg": "request", "request_id": request_id, **fields}))
            else:
                access.handle(_access_record(fields))
        response.headers["X-Request-Id"] = request_id if request_id is not None else ""
        return response


def new_request_id() -> str:
    """16 hex digits to find one request's lines. Not a secret (it is sent back in
    X-Request-Id), so it comes from the ``random`` module's generator (seeded from the OS,
    re-seeded in every forked worker) rather than a getrandom() system call per request."""
    return f"{random.getrandbits(64):016x}"  # the module's generator: re-seeded on fork


def _sole_json_handler(access: logging.Logger) -> JsonLinesHandler | None:
    """The handler an access record would reach, when that is only ours as ``configure``
    installs it (no filters, our formatter): then the line can be written directly. Any
    other set-up (tests capturing logs, an operator's extra handler) gets the record."""
    if access.handlers or access.filters or not access.propagate:
        return None
    root = logging.getLogger()
    if root.filters or len(root.handlers) != 1:
        return None
    handler = root.handlers[0]
    if type(handler) is not JsonLinesHandler or handler.filters \
            or type(handler.formatter) is not JsonFormatter or handler.level > logging.INFO:
        return None
    return handler


def _access_record(fields: dict[str, Any]) -> logging.LogRecord:
    """What ``access.info("request", extra={"fields": ...})`` would build, without looking
    up the caller's file and line (which the JSON line does not carry)."""
    record = logging.getLogRecordFactory()(ACCESS_LOGGER, logging.INFO, __file__, 0,
                                           "request", None, None)
    record.fields = fields
    return record
