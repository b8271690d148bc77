"""Dynamic client registration (RFC 7591) and its management (RFC 7592).

POST /register with ``Authorization: Bearer <initial access token>`` (``tnid clients
registration-token``) registers an app; GET / PUT / DELETE /register/<client_id> with the
registration access token returned then read, replace and remove it. The token is rotated on
every PUT (RFC 7592 §3 allows it): a leaked one is worth one change at most.

authlib's endpoints run the protocol steps (token, metadata, save, response; RFC 7592's
dispatch). The metadata rules are ``services.clients``' — the same for ``tnid clients`` and
the admin console — so authlib's claims classes are not used; its PUT handling is replaced to
give each RFC 7592 §2.2 refusal a reason.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc6750 import InvalidTokenError
from authlib.oauth2.rfc7591 import (
    ClientRegistrationEndpoint,
    InvalidClientMetadataError,
    InvalidRedirectURIError,
)
from authlib.oauth2.rfc7592 import ClientConfigurationEndpoint
from flask import Response, request
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import RequestEntityTooLarge

from idp.extensions import db, limiter
from idp.models import Client
from idp.oidc import bp, context
from idp.services import clients
from idp.services.clock import utcnow
from idp.services.identifiers import InvalidInput
from idp.web import deps

log = logging.getLogger("tnid.audit")
MAX_BODY = 64 * 1024  # twenty redirect URIs and a ten-key JWK Set fit with room to spare
RATE_LIMIT = "60/minute"
# RFC 7592 §2.2: the client never sends these back.
SERVER_MEMBERS = ("registration_access_token", "registration_client_uri",
                  "client_secret_expires_at", "client_id_issued_at")


@dataclass(frozen=True)
class PresentedToken:
    """A bearer token as presented; authlib asks it which client it belongs to."""

    value: str

    def check_client(self, client: Client) -> bool:
        return clients.check_registration_access_token(client, self.value)


class ClientRegistration(ClientRegistrationEndpoint):
    """RFC 7591 §3.1: one use of an initial access token registers one app."""

    def authenticate_token(self, req: Any) -> str:
        token = _bearer()
        if not clients.consume_initial_access_token(db.session, token, now=utcnow()):
            raise InvalidTokenError(description="The initial access token is unknown, expired "
                                                "or used up.")
        return token

    def extract_client_metadata(self, req: Any) -> dict:
        req.spec = _validated_spec(_json_object(), existing=None)
        return {}  # the response is made from the saved client (RFC 7591 §3.2.1)

    def generate_client_info(self, req: Any) -> dict:
        return {}  # client_id and secret are made by services.clients when saving

    def save_client(self, client_info: dict, client_metadata: dict, req: Any) -> Client:
        client, req.secret = clients.create_client(
            db.session, req.spec, production=deps.settings().is_production,
            created_via="registration")
        _audit("client:register", client)
        return client

    def generate_client_registration_info(self, client: Client, req: Any) -> dict:
        token = clients.issue_registration_access_token(db.session, client)
        return _information(client, token, req.secret)


class ClientConfiguration(ClientConfigurationEndpoint):
    """RFC 7592 §2: the client reads, replaces or deletes its own registration."""

    def authenticate_token(self, req: Any) -> PresentedToken:
        return PresentedToken(_bearer())

    def authenticate_client(self, req: Any) -> Client:
        # Unknown client, disabled client, another client's token: one answer (§2, 401).
        client = clients.find_client(db.session, (request.view_args or {}).get("client_id", ""))
        if client is None or not req.credential.check_client(client):
            raise InvalidTokenError(description="The registration access token is not valid "
                                                "for this client.")
        return client

    def revoke_access_token(self, req: Any, token: PresentedToken) -> None:
        """Not reached: ``authenticate_client`` never returns None."""

    def check_permission(self, client: Client, req: Any) -> bool:
        return True  # a client may always manage itself

    def introspect_client(self, client: Client) -> dict:
        return clients.registered_metadata(client)

    def generate_client_registration_info(self, client: Client, req: Any) -> dict:
        token = getattr(req, "new_token", None) or req.credential.value
        return _information(client, token, getattr(req, "secret", None))

    def create_update_client_response(self, client: Client, req: Any) -> tuple:
        """RFC 7592 §2.2: the whole metadata again, with this client's id (and its secret, if
        sent, must match); server-made members must not be sent back."""
        data = _json_object()
        for member in SERVER_MEMBERS:
            if member in data:
                raise InvalidRequestError(f"Do not send {member} (RFC 7592 section 2.2).")
        if data.get("client_id") != client.client_id:
            raise InvalidRequestError("client_id must be this client's client_id.")
        secret = data.get("client_secret")
        if "client_secret" in data and not (isinstance(secret, str) and len(secret) <= 128
                                            and client.check_client_secret(secret)):
            raise InvalidRequestError("client_secret does not match this client's secret.")
        req.spec = _validated_spec(data, existing=client)
        return self.create_read_client_response(self.update_client(client, {}, req), req)

    def update_client(self, client: Client, client_metadata: dict, req: Any) -> Client:
        req.new_token = clients.rotate_registration_access_token(
            db.session, client, req.credential.value)
        if req.new_token is None:  # the same token was just used by another request
            raise InvalidTokenError(description="The registration access token was replaced.")
        clients.update_client(db.session, client, req.spec,
                              production=deps.settings().is_production)
        if client.token_endpoint_auth_method in clients.SECRET_METHODS \
                and client.client_secret_hash is None:  # moved to a secret method: issue one
            req.secret = clients.rotate_secret(db.session, client)
        _audit("client:update", client)
        return client

    def delete_client(self, client: Client, req: Any) -> None:
        """§2.3: the client stops working; its tokens and registration token are revoked."""
        clients.disable_client(db.session, client, utcnow())
        _audit("client:delete", client)


@bp.route("/register", methods=["POST", "GET", "PUT", "PATCH", "DELETE"])
@limiter.limit(RATE_LIMIT)
def register() -> Response:
    if request.method != "POST":
        return _error(OAuth2Error("Register with POST.", status_code=405,
                                  error="invalid_request"), allow="POST")
    return _respond(ClientRegistration.ENDPOINT_NAME, body=True)


@bp.route("/register/<client_id>", methods=["GET", "PUT", "DELETE", "POST", "PATCH"])
@limiter.limit(RATE_LIMIT)
def configure(client_id: str) -> Response:
    if request.method not in ("GET", "PUT", "DELETE"):
        return _error(OAuth2Error("Use GET, PUT or DELETE.", status_code=405,
                                  error="invalid_request"), allow="GET, PUT, DELETE")
    return _respond(ClientConfiguration.ENDPOINT_NAME, body=request.method == "PUT")


def _respond(endpoint: str, *, body: bool) -> Response:
    if body and (problem := _body_problem()) is not None:
        return _error(problem)
    try:
        response = context.server().create_endpoint_response(endpoint)
    except Exception:
        db.session.rollback()
        raise
    if response.status_code < 400:
        db.session.commit()
    else:  # nothing written, and an initial access token's use is given back
        db.session.rollback()
    return response


def _body_problem() -> OAuth2Error | None:
    """RFC 7591 §3.1: a JSON body, of a sensible size."""
    if request.mimetype != "application/json":
        return InvalidRequestError("The body must be application/json.")
    too_large = OAuth2Error("The body is too large (at most 64 KiB).", status_code=413,
                            error="invalid_request")
    if (request.content_length or 0) > MAX_BODY:
        return too_large
    request.max_content_length = MAX_BODY
    try:
        request.get_data(cache=True)
    except RequestEntityTooLarge:
        return too_large
    return None


def _json_object() -> dict[str, Any]:
    """The body as one JSON object; a member given twice is refused, not silently merged."""
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({name for name, _ in items}) != len(items):
            raise ValueError("duplicate member")
        return dict(items)

    def no_constant(name: str) -> None:
        raise ValueError(name)  # NaN, Infinity are not JSON

    try:
        data = json.loads(request.get_data(cache=True), object_pairs_hook=pairs,
                          parse_constant=no_constant)
    except (ValueError, RecursionError):
        raise InvalidRequestError("The body is not valid JSON (or repeats a member).") from None
    if not isinstance(data, dict):
        raise InvalidClientMetadataError("The body must be a JSON object of client metadata.")
    return data


def _validated_spec(data: dict[str, Any], *, existing: Client | None) -> clients.ClientSpec:
    production = deps.settings().is_production
    try:
        spec = clients.spec_from_metadata(data, existing=existing)
        values = clients.validate(spec, production=production)
        clients.check_response_types(data.get("response_types"), values["grant_types"])
        if production:
            _check_outbound(values)
    except InvalidInput as error:
        raise _metadata_error(error) from None
    return spec


def _check_outbound(values: dict[str, Any]) -> None:
    """The provider itself calls these URIs: a self-registered app may not aim them at the
    provider's own machine or private network (only the province can, with ``tnid``)."""
    for field in ("backchannel_logout_uri", "jwks_uri"):
        host = (urlsplit(values[field]).hostname or "") if values.get(field) else ""
        try:
            private = not ipaddress.ip_address(host).is_global
        except ValueError:
            private = host == "localhost" or host.endswith(".localhost")
        if host and private:
            raise InvalidInput(field, _l("This address is on a private or loopback network."))


def _metadata_error(error: InvalidInput) -> OAuth2Error:
    """RFC 7591 §3.2.2, in English ASCII (RFC 6749 §5.2 limits error_description to it)."""
    with force_locale("en"):
        text = f"{clients.MEMBER_OF.get(error.field, error.field)}: {error.message}"
    text = "".join(c if 0x20 <= ord(c) <= 0x7E and c not in '"\\' else "'" if c == '"' else "?"
                   for c in text)
    if error.field == "redirect_uris":
        return InvalidRedirectURIError(text)
    return InvalidClientMetadataError(text)


def _bearer() -> str:
    """RFC 6750 §2.1; a missing or malformed header is ``invalid_token`` too (401)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not 0 < len(token) <= 128 or " " in token:
        raise InvalidTokenError(description="Send the token as 'Authorization: Bearer <token>'.")
    return token


def _information(client: Client, token: str, secret: str | None) -> dict:
    """RFC 7591 §3.2.1 and RFC 7592 §3: the registration, how to manage it, a new secret."""
    data = {**clients.registered_metadata(client), "registration_access_token": token,
            "registration_client_uri": context.url(f"/register/{client.client_id}")}
    if secret is not None:
        data["client_secret"] = secret  # shown once: only its hash is kept
    return data


def _audit(event: str, client: Client) -> None:
    log.info(event, extra={"ip": request.remote_addr, "client_id": client.client_id,
                           "via": "registration"})


def _error(error: OAuth2Error, allow: str | None = None) -> Response:
    status, body, headers = error()
    response = Response(json.dumps(body), status=status, headers=headers)
    if allow:
        response.headers["Allow"] = allow
    return response

