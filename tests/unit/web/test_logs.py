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
