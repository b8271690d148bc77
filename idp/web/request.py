"""The app's request class: Flask's, with a short path for URL-encoded form bodies.

Every protocol call a relying app makes (token, introspection, revocation, PAR) and every
sign-in form posts ``application/x-www-form-urlencoded``. For those, werkzeug builds a form
parser, a limited stream around the input and reads three limits from the app's config through
context proxies, then runs ``parse_qsl`` — about 20 µs of which ``parse_qsl`` is 2. Here the
body is read once (never more than Content-Length, nor past ``MAX_CONTENT_LENGTH``) and parsed
exactly as werkzeug parses it; anything else (multipart, chunked bodies without a
Content-Length) takes werkzeug's own path.
"""

from __future__ import annotations

import io
from urllib.parse import parse_qsl

import werkzeug.urls  # noqa: F401 — registers the "werkzeug.url_quote" codec error handler
from flask import Request, current_app
from flask.debughelpers import attach_enctype_error_multidict
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge

FORM = "application/x-www-form-urlencoded"


class FormRequest(Request):
    def _load_form_data(self) -> None:
        if "form" in self.__dict__ or self.mimetype != FORM or not self.want_form_data_parsed \
                or self._body_touched():
            super()._load_form_data()
            return
        length = self.content_length
        if length is None:
            super()._load_form_data()  # a streamed body: werkzeug limits the stream itself
            return
        limit = self.max_content_length
        if limit is not None and length > limit:
            raise RequestEntityTooLarge()
        try:
            body = self.environ["wsgi.input"].read(length) if length else b""
        except (OSError, ValueError):
            raise ClientDisconnected() from None  # as werkzeug's limited stream reports it
        if len(body) < length and "wsgi.input_terminated" not in self.environ:
            # What werkzeug's stream limited to Content-Length raises. A server that ends the
            # stream itself (gunicorn) gives what arrived, as werkzeug then reads it.
            raise ClientDisconnected()
        try:
            # As werkzeug's parser: blank values kept, undecodable escapes left quoted, and a
            # body that is not UTF-8 gives an empty form rather than an error.
            items = parse_qsl(body.decode(), keep_blank_values=True, errors="werkzeug.url_quote")
        except ValueError:
            items = []
        d = self.__dict__
        d["stream"], d["form"] = io.BytesIO(), self.parameter_storage_class(items)
        d["files"] = self.parameter_storage_class()
        if current_app and current_app.debug:  # what Flask's own loader adds in debug mode
            attach_enctype_error_multidict(self)

    def _body_touched(self) -> bool:
        """Whether something read (or may read) the body before: werkzeug then parses the
        cached bytes, or the stream already handed out, or refuses (a shallow request)."""
        return (self.shallow or "stream" in self.__dict__
                or getattr(self, "_cached_data", None) is not None)
