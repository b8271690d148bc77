"""Tests of idp.web.request.FormRequest: URL-encoded bodies parse exactly as werkzeug parses
them (same form, same errors), whatever the bytes; other bodies are werkzeug's."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from flask import Flask, Request
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge

from idp.web.request import FORM, FormRequest

LIMIT = 1024


@pytest.fixture(scope="module")
def flask_app() -> Iterator[Flask]:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = LIMIT
    with app.app_context():
        yield app


def environ(body: bytes, *, content_type: str = FORM, length: int | None = -1,
            **extra: object) -> dict:
    values = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": content_type, "SERVER_NAME": "idp",
              "SERVER_PORT": "443", "wsgi.url_scheme": "https", "PATH_INFO": "/token",
              "wsgi.input": io.BytesIO(body), **extra}
    if length is not None:
        values["CONTENT_LENGTH"] = str(len(body) if length == -1 else length)
    return values


def parsed(request_class: type[Request], body: bytes, **kw: object) -> tuple:
    request = request_class(environ(body, **kw))
    try:
        form = request.form
    except (RequestEntityTooLarge, ClientDisconnected) as error:
        return type(error), None
    return list(form.items(multi=True)), request.files, request.get_data()


# Characters that matter to the parser: separators, escapes, plus, invalid UTF-8.
PIECES = st.sampled_from([b"a", b"token", b"=", b"&", b";", b"+", b"%", b"%20", b"%ZZ",
                          b"%FF", b"%C3%A1", b"\xc3\xa1", b"\xff", b" ", b"\x00", b"grant_type",
                          b"client_id", b"\xe1\xba\xa1"])
BODIES = st.one_of(st.lists(PIECES, max_size=40).map(b"".join), st.binary(max_size=200))


@settings(max_examples=400, deadline=None)
@given(body=BODIES, terminated=st.booleans())
def test_form_bodies_parse_as_werkzeug_parses_them(flask_app: Flask, body: bytes,
                                                   terminated: bool):
    # gunicorn ends the input stream itself and says so (wsgi.input_terminated).
    kw = {"wsgi.input_terminated": True} if terminated else {}
    assert parsed(FormRequest, body, **kw) == parsed(Request, body, **kw)


@pytest.mark.parametrize("body", [
    b"", b"token=abc", b"token=", b"token", b"a=1&a=2", b"scope=openid+profile",
    b"redirect_uri=https%3A%2F%2Frp.example.vn%2Fcb", b"x=%FF", b"\xff=1", b"t=" + b"a" * 900,
])
def test_common_bodies(flask_app: Flask, body: bytes):
    assert parsed(FormRequest, body) == parsed(Request, body)


def test_too_large_is_refused_before_reading(flask_app: Flask):
    body = b"t=" + b"a" * LIMIT
    assert parsed(FormRequest, body) == parsed(Request, body) == (RequestEntityTooLarge, None)


def test_body_shorter_than_its_content_length_is_a_disconnect(flask_app: Flask):
    body = b"token=abc"
    assert parsed(FormRequest, body, length=50) == parsed(Request, body, length=50) \
        == (ClientDisconnected, None)
    # A server that ends the stream itself: what arrived is parsed, as werkzeug does.
    terminated = {"length": 50, "wsgi.input_terminated": True}
    assert parsed(FormRequest, body, **terminated) == parsed(Request, body, **terminated) \
        == ([("token", "abc")], {}, b"")


def test_too_large_is_refused_on_a_terminated_stream_too(flask_app: Flask):
    body = b"t=" + b"a" * LIMIT
    kw = {"wsgi.input_terminated": True}
    assert parsed(FormRequest, body, **kw) == parsed(Request, body, **kw) \
        == (RequestEntityTooLarge, None)


@pytest.mark.parametrize("kw", [
    {"content_type": "multipart/form-data; boundary=x"},
    {"content_type": "application/json"},
    {"length": None},  # no Content-Length: werkzeug's safe fallback reads nothing
    {"length": None, "wsgi.input_terminated": True},  # chunked, ended by the server
])
def test_other_bodies_take_werkzeugs_path(flask_app: Flask, kw: dict):
    body = b"token=abc"
    assert parsed(FormRequest, body, **kw) == parsed(Request, body, **kw)


def test_the_app_uses_it(app: Flask):
    assert app.request_class is FormRequest


@pytest.mark.parametrize("touch", ["get_data", "stream", "shallow"])
def test_a_body_read_before_is_werkzeugs_business(flask_app: Flask, touch: str):
    """Read with get_data() first: werkzeug parses the cached bytes. The stream handed out
    first: werkzeug parses what is left of it. A shallow request: both refuse."""
    body = b"token=abc&token_type_hint=access_token"

    def outcome(request_class: type[Request]) -> object:
        request = request_class(environ(body), shallow=touch == "shallow")
        try:
            if touch == "get_data":
                request.get_data()
            elif touch == "stream":
                request.stream.read(6)
            return list(request.form.items(multi=True)), request.get_data()
        except RuntimeError as error:
            return type(error)

    assert outcome(FormRequest) == outcome(Request)


class ResetStream(io.BytesIO):
    def read(self, size: int | None = -1) -> bytes:
        raise ConnectionResetError("reset by peer")

    def readinto(self, buffer: object) -> int:
        raise ConnectionResetError("reset by peer")


@pytest.mark.parametrize("terminated", [False, True])
def test_a_reset_connection_is_a_disconnect(flask_app: Flask, terminated: bool):
    extra = {"wsgi.input_terminated": True} if terminated else {}

    def outcome(request_class: type[Request]) -> object:
        values = environ(b"token=abc", **extra)
        values["wsgi.input"] = ResetStream()
        try:
            return request_class(values).form
        except ClientDisconnected as error:
            return type(error)

    assert outcome(FormRequest) == outcome(Request) == ClientDisconnected


def test_debug_mode_keeps_flasks_helpful_files_error(flask_app: Flask):
    flask_app.debug = True
    try:
        def error_of(request_class: type[Request]) -> type:
            request = request_class(environ(b"token=abc"))
            with pytest.raises(KeyError) as raised:
                request.files["token"]
            return type(raised.value)

        assert error_of(FormRequest) is error_of(Request)
    finally:
        flask_app.debug = False
