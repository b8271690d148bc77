"""Wiring of authlib's authorization server: grants, client authentication, endpoints.

Registered once at import; everything that depends on configuration (lifetimes, issuer) is
read from the current app when a request runs, so several apps (tests) can share it.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Iterator, Mapping
from functools import lru_cache

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Request
from authlib.oauth2.rfc6749 import InvalidClientError, OAuth2Request
from authlib.oauth2.rfc6749.requests import OAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator
from flask import Flask, Response, current_app, g
from flask import request as flask_request
from flask.json.provider import DefaultJSONProvider
from flask.wrappers import Request
from sqlalchemy import bindparam, select
from werkzeug.datastructures import CombinedMultiDict, MultiDict

from idp.database import PreparedRead, reader
from idp.extensions import db
from idp.models import Client, Token
from idp.models.client import ClientView
from idp.oidc import context
from idp.oidc.client_auth import PrivateKeyJwtAuthentication
from idp.oidc.grants.authorization_code import AuthorizationCodeGrant
from idp.oidc.grants.client_credentials import ClientCredentialsGrant
from idp.oidc.grants.openid import OpenIDCodeExtension, OpenIDRefreshExtension
from idp.oidc.grants.refresh_token import RefreshTokenGrant
from idp.oidc.pkce import S256CodeChallenge
from idp.services import audit, tokens
from idp.services.clock import utcnow
from idp.services.scopes import SUPPORTED_SCOPES
from idp.web import deps


class _Payload(OAuth2Payload):
    def __init__(self, values: CombinedMultiDict) -> None:
        self._values = values
        self._lists = _ValueLists(values)

    @property
    def data(self) -> CombinedMultiDict:
        return self._values

    @property
    def datalist(self) -> Mapping[str, list[str]]:
        return self._lists


class _ValueLists(Mapping[str, list[str]]):
    """Every value of each parameter (authlib's ``datalist``), looked up by name when asked
    (authlib and we only ever ``get`` a name or two) instead of built for every request."""

    def __init__(self, values: CombinedMultiDict) -> None:
        self._values = values

    def __getitem__(self, name: str) -> list[str]:
        found = self._values.getlist(name)
        if not found:
            raise KeyError(name)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


class OmitEmptyRequest(FlaskOAuth2Request):
    """A Flask request as authlib sees it, where parameters sent without a value are treated
    as omitted (RFC 6749 §3.2): ``refresh_token=`` is a missing refresh token."""

    def __init__(self, request: Request) -> None:
        # Not FlaskOAuth2Request.__init__: it rebuilds request.url (IRI round trips) on every
        # token request, and authlib only checks the scheme of it.
        OAuth2Request.__init__(self, request.method,
                               f"{request.scheme}://{request.host}{request.path}")
        # Set after: authlib's ``headers or {}`` would count the WSGI environ's headers
        # (EnvironHeaders has no cheaper truth test) on every request.
        self.headers = request.headers
        self._request = request
        self._form = _without_empty(request.form)
        self.payload = _Payload(CombinedMultiDict([_without_empty(request.args), self._form]))

    @property
    def form(self) -> MultiDict:
        return self._form


def _without_empty(values: MultiDict) -> MultiDict:
    return MultiDict([(k, v) for k, v in values.items(multi=True) if v != ""])


class TnidAuthorizationServer(AuthorizationServer):
    def create_oauth2_request(self, request: object) -> OAuth2Request:
        """Accept a prepared request (PAR, resumed interaction) as well as Flask's own."""
        if isinstance(request, OAuth2Request):
            return request
        # The request itself, not the proxy: the constructor reads it a dozen times.
        return OmitEmptyRequest(flask_request._get_current_object())

    def get_error_uri(self, request: object, error: object) -> None:
        return None

    def handle_response(self, status_code: int, payload: object, headers: list) -> Response:
        """authlib's Flask response, with the app's JSON settings (``flask.json.dumps``) held
        in one encoder per app instead of a new one built by ``json.dumps`` per response:
        the same bytes."""
        if isinstance(payload, dict):
            payload = _json_encoder(current_app.json).encode(payload)
        return Response(payload, status=status_code, headers=headers)

    def authenticate_client(self, request: OAuth2Request, methods: list[str],
                            endpoint: str = "token") -> Client:
        """authlib's client authentication, made strict at the edges (RFC 6749 §2.3.1):

        - a Basic header that does not decode is ``invalid_client`` (authlib would crash on
          non-ASCII or non-UTF-8 credentials);
        - a ``client_id`` parameter must name the client that authenticated, so a request
          cannot say one client and prove another.
        """
        basic = _basic_credentials(request.headers.get("Authorization"))
        if basic is False:
            raise InvalidClientError(status_code=401,
                                     description="The Basic authorization header is malformed.")
        client = super().authenticate_client(request, methods, endpoint)
        named = request.payload.datalist.get("client_id") or []
        if any(value != client.client_id for value in named):
            raise InvalidClientError(
                status_code=401 if request.auth_method == "client_secret_basic" else 400,
                description="'client_id' does not name the authenticated client.")
        return client


@lru_cache(maxsize=8)
def _json_encoder(provider: object) -> json.JSONEncoder:
    if type(provider) is not DefaultJSONProvider:  # pragma: no cover — an app's own provider
        return _ProviderEncoder(provider)
    return json.JSONEncoder(default=provider.default, ensure_ascii=provider.ensure_ascii,
                            sort_keys=provider.sort_keys)


class _ProviderEncoder:
    def __init__(self, provider: object) -> None:
        self.encode = provider.dumps


def _basic_credentials(header: str | None) -> bool | None:
    """None: no Basic header; True: it decodes to ``id:secret``; False: it is malformed."""
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip().encode("ascii"), validate=True)
        return ":" in decoded.decode("utf-8")
    except (UnicodeError, binascii.Error, ValueError):
        return False


def query_client(client_id: str) -> Client | None:
    """The enabled client, looked up once per request however many checks ask for it."""
    if not is_client_id(client_id):
        return None
    memo = g.setdefault("tnid_clients", {})
    if client_id not in memo:
        with reader(db) as connection:
            row = _ENABLED_CLIENT.first(connection, {"client_id": client_id})
        # A detached, read-only Client: the protocol only reads it, and skipping the ORM's
        # identity map and change tracking saves ~0.1 ms on every protocol request.
        memo[client_id] = ClientView(**row) if row is not None else None
    return memo[client_id]


def is_client_id(value: object) -> bool:
    # NUL and friends: PostgreSQL refuses them.
    return isinstance(value, str) and 0 < len(value) <= 64 and value.isprintable()


def remember_client(client_id: str, mapping: object | None,
                    columns: list | None = None) -> None:
    """What ``query_client`` would find, read by a caller in a statement of its own
    (``mapping``: ``columns`` — by default ``PROTOCOL_COLUMNS`` — labelled
    ``clients_<name>``; None: no enabled client has that id). With fewer columns the client
    answers only what needs them: the caller must be the request's only user of it."""
    client = None
    if mapping is not None:
        names = _labels(tuple(columns if columns is not None else PROTOCOL_COLUMNS))
        client = ClientView(**{name: mapping[label] for name, label in names})
    g.setdefault("tnid_clients", {})[client_id] = client


@lru_cache(maxsize=8)
def _labels(columns: tuple) -> tuple[tuple[str, str], ...]:
    return tuple((c.name, f"clients_{c.name}") for c in columns)


# What the protocol reads of a client (not its timestamps: SQLite datetimes are slow to parse).
PROTOCOL_COLUMNS = [c for c in Client.__table__.columns
                    if c.name not in ("created_at", "updated_at", "created_via",
                                      "registration_access_token_hash")]
# What authenticating a client at introspection or revocation reads of it, for each of the
# confidential methods: the id, the secret's hash (client_secret_basic, client_secret_post),
# the registered method (``check_endpoint_auth_method``) and the keys (private_key_jwt).
# Enabled clients only (the query's own condition), so ``disabled_at`` is not read.
AUTHENTICATION_COLUMNS = [Client.__table__.c[name] for name in (
    "client_id", "client_secret_hash", "token_endpoint_auth_method", "jwks", "jwks_uri")]
_ENABLED_CLIENT = PreparedRead(select(*PROTOCOL_COLUMNS).where(
    Client.__table__.c.client_id == bindparam("client_id"),
    Client.__table__.c.disabled_at.is_(None)))


def save_token(token: dict, request: OAuth2Request) -> None:
    citizen_id = request.user.id if request.user else None
    now = utcnow()
    tokens.save_token(
        db.session, token, client=request.client, citizen_id=citizen_id, now=now,
        lifetimes=context.lifetimes(), code=request.authorization_code,
        previous=request.refresh_token,
    )
    # Which app received which personal data, and when: the audit trail records every
    # issuance with the scopes given (committed with the tokens, or not at all).
    audit.record(
        db.session, "oidc:token:issued", actor_type="client",
        actor_id=request.client.client_id, citizen_id=citizen_id,
        client_id=request.client.client_id, ip=flask_request.remote_addr, now=now,
        details={"grant_type": request.payload.grant_type, "scope": token.get("scope", "")},
    )
    # Everything the exchange changes is written by now (the code or refresh token was
    # claimed when the grant checked it; the old refresh token needs nothing more): commit, so
    # SQLite's writer lock is not held while the ID token is signed (~0.35 ms of RS256 that
    # authlib does after saving). If signing then failed, the client would get an error and
    # tokens it never received.
    db.session.commit()


def _expires_in(client: Client, grant_type: str) -> int:
    return deps.settings().access_token_lifetime_seconds


token_generator = BearerTokenGenerator(
    access_token_generator=lambda **_: secrets.token_urlsafe(32),
    refresh_token_generator=lambda **_: secrets.token_urlsafe(48),
    expires_generator=_expires_in,
)


class AccessTokenValidator(BearerTokenValidator):
    def authenticate_token(self, token_string: str) -> Token | None:
        if not token_string or len(token_string) > 256:
            return None
        # Only userinfo uses this validator, and it only reads: a pooled connection, no ORM
        # session to create and tear down (about a tenth of a millisecond per request).
        with reader(db) as connection:
            return tokens.read_token(connection, token_string, view="userinfo")


server = TnidAuthorizationServer()
server.scopes_supported = list(SUPPORTED_SCOPES)
server.register_token_generator("default", token_generator)
server.register_client_auth_method("private_key_jwt", PrivateKeyJwtAuthentication())
server.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True),
                                               OpenIDCodeExtension(require_nonce=False)])
server.register_grant(RefreshTokenGrant, [OpenIDRefreshExtension()])
server.register_grant(ClientCredentialsGrant)

resource_protector = ResourceProtector()
resource_protector.register_token_validator(AccessTokenValidator())


def init_app(app: Flask) -> None:
    server._query_client = query_client
    server._save_token = save_token
    server._error_uris = None
    app.extensions["tnid.authorization_server"] = server
