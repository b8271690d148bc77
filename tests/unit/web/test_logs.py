"""The JSON-lines handler: access lines are buffered, every other line is written at once."""

from __future__ import annotations

import io
import json
import logging

from idp.web.logs import ACCESS_BUFFER_LINES, ACCESS_LOGGER, JsonFormatter, JsonLinesHandler


def handler() -> tuple[JsonLinesHandler, io.StringIO]:
    stream = io.StringIO()
    h = JsonLinesHandler(stream)
    h.setFormatter(JsonFormatter())
    return h, stream


def record(name: str, msg: str, level: int = logging.INFO, **fields: object) -> logging.LogRecord:
    made = logging.LogRecord(name, level, __file__, 0, msg, None, None)
    made.fields = fields
    return made


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_access_lines_wait_for_a_flush():
    h, stream = handler()
    h.handle(record(ACCESS_LOGGER, "request", path="/userinfo", status=200))
    assert stream.getvalue() == ""
    h.flush()  # also what logging.shutdown() does at exit
    [line] = lines(stream)
    assert line["msg"] == "request" and line["path"] == "/userinfo" and line["status"] == 200


def test_other_lines_are_written_at_once_after_the_waiting_access_lines():
    h, stream = handler()
    h.handle(record(ACCESS_LOGGER, "request", path="/a"))
    h.handle(record("tnid.audit", "account:login:failure", logging.WARNING))
    assert [line["msg"] for line in lines(stream)] == ["request", "account:login:failure"]


def test_a_full_buffer_is_written_without_waiting():
    h, stream = handler()
    for n in range(ACCESS_BUFFER_LINES):
        h.handle(record(ACCESS_LOGGER, "request", path=f"/{n}"))
    assert len(lines(stream)) == ACCESS_BUFFER_LINES


def test_the_short_access_line_is_the_line_the_formatter_writes(monkeypatch):
    """With only our handler installed, ``log_request`` writes the access line itself; it
    must read exactly as the formatted record would (same keys, same order)."""
    from flask import Flask

    from idp.web import logs

    h, stream = handler()
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [h])
    monkeypatch.setattr(root, "level", logging.INFO)
    monkeypatch.setattr(logging.getLogger(ACCESS_LOGGER), "handlers", [])
    app = Flask(__name__)
    logs.init_app(app)
    app.add_url_rule("/ping", "ping", lambda: "pong")
    assert logs._sole_json_handler(logging.getLogger(ACCESS_LOGGER)) is h
    response = app.test_client().get("/ping", environ_base={"REMOTE_ADDR": "10.0.0.7"})
    h.flush()
    [short] = lines(stream)
    assert short["request_id"] == response.headers["X-Request-Id"]

    monkeypatch.setattr(logs, "_sole_json_handler", lambda _access: None)  # the record path
    app.test_client().get("/ping", environ_base={"REMOTE_ADDR": "10.0.0.7"})
    h.flush()
    [_, by_record] = lines(stream)
    assert list(short) == list(by_record)
    for key in ("level", "logger", "msg", "method", "path", "status", "ip"):
        assert short[key] == by_record[key]
    assert short == {**short, "level": "INFO", "logger": ACCESS_LOGGER, "msg": "request",
                     "method": "GET", "path": "/ping", "status": 200, "ip": "10.0.0.7"}


def test_any_other_handler_gets_the_access_record(caplog):
    from idp.web import logs

    with caplog.at_level(logging.INFO):
        assert logs._sole_json_handler(logging.getLogger(ACCESS_LOGGER)) is None
