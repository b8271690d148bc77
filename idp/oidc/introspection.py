"""Token introspection (RFC 7662) for authenticated clients: a client learns about its own
tokens only; anything else — unknown, expired, revoked, used, another client's — is simply
``{"active": false}`` (§2.2), so nothing leaks about other clients' tokens.

Public clients (method ``none``) cannot introspect: the endpoint must know who asks (§2.1).
"""

from __future__ import annotations

from dataclasses import dataclass

from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Request
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from flask import Response, g, request
from werkzeug.datastructures import MultiDict

from idp.database import PreparedRead, read_scope, reader
from idp.extensions import db, limiter
from idp.models import Client, Token
from idp.oidc import bp, context
from idp.oidc.grants.authorization_code import CLIENT_AUTH_METHODS
from idp.oidc.server import AUTHENTICATION_COLUMNS, is_client_id, remember_client
from idp.oidc.token import _error
from idp.oidc.userinfo import method_not_allowed
from idp.services import claims, tokens
from idp.services.clock import epoch, utcnow

TOKEN_TYPES = ("access_token", "refresh_token")
MAX_TOKEN_LENGTH = 256  # ours are 43 and 64 characters; anything longer is not one of ours


@dataclass
class Found:
    """A token row and which of its two secrets was presented."""

    row: Token
    kind: str  # access_token | refresh_token

    def check_client(self, client: Client) -> bool:
        return self.row.client_id == client.client_id

    def is_active(self) -> bool:
        row, now = self.row, utcnow()
        if row.revoked_at is not None or row.client.disabled_at is not None:
            return False
        if row.citizen is not None and row.citizen.status != "active":
            return False  # a locked citizen's tokens speak for no one
        if self.kind == "access_token":
            return row.access_expires_at > now
        return (row.refresh_used_at is None and row.refresh_expires_at is not None
                and row.refresh_expires_at > now)


def find_token(token_string: str, token_type_hint: str | None, *,
               read_only: bool = False) -> Found | None:
    """Look the token up, trying the hinted type first and then the other one (RFC 7009
    §2.1, RFC 7662 §2.1: a wrong hint must not hide the token). ``read_only`` takes the
    fast path for introspection, which never changes the row."""
    if not token_string or len(token_string) > MAX_TOKEN_LENGTH:
        return None
    order = TOKEN_TYPES[::-1] if token_type_hint == "refresh_token" else TOKEN_TYPES
    for kind in order:
        if read_only:
            with reader(db) as connection:
                row = tokens.read_token(connection, token_string, kind, view="introspection")
        else:
            find = (tokens.find_access_token if kind == "access_token"
                    else tokens.find_refresh_token)
            row = find(db.session, token_string)
        if row is not None:
            return Found(row, kind)
    return None


def check_token_param(form: MultiDict) -> None:
    if not form.get("token"):
        raise InvalidRequestError("The 'token' parameter is required.")


class TokenIntrospection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = [m for m in CLIENT_AUTH_METHODS if m != "none"]

    def check_params(self, request: OAuth2Request, client: Client) -> None:
        # An unknown token_type_hint is ignored, as §2.1 allows: the token is searched anyway.
        check_token_param(request.form)

    def query_token(self, token_string: str, token_type_hint: str | None) -> Found | None:
        prefetched = g.pop("tnid_prefetched_token", None)
        if prefetched is not None and prefetched.token_string == token_string \
                and token_type_hint != "refresh_token":
            return prefetched.found  # check_permission still compares the clients
        return find_token(token_string, token_type_hint, read_only=True)

    def check_permission(self, token: Found, client: Client, request: object) -> bool:
        return token.check_client(client)

    def create_introspection_payload(self, token: Found | None) -> dict:
        if token is None or not token.is_active():
            return {"active": False}
        row = token.row
        expires = row.access_expires_at if token.kind == "access_token" else row.refresh_expires_at
        payload = {
            "active": True, "client_id": row.client_id, "scope": row.scope,
            "token_type": "Bearer" if token.kind == "access_token" else "refresh_token",
            "iat": epoch(row.issued_at), "exp": epoch(expires), "iss": context.issuer(),
        }
        if row.citizen_id is not None:
            # The sub this client knows the citizen by (pairwise for pairwise clients).
            payload["sub"] = claims.subject(row.citizen_id, row.client, context.pairwise_secret())
        if row.acr:
            payload["acr"] = row.acr
        if row.auth_time:
            payload["auth_time"] = epoch(row.auth_time)
        return payload

    def introspect_token(self, token: Found) -> dict:  # pragma: no cover — payload built above
        return self.create_introspection_payload(token)


@dataclass
class Prefetched:
    token_string: str
    found: Found


def claimed_client_id(oauth_request: OAuth2Request) -> str | None:
    """The client_id the request claims, read the way authlib's client_secret_basic and
    client_secret_post methods read it (None for a private_key_jwt assertion alone)."""
    try:
        basic_id, _secret = extract_basic_authorization(oauth_request.headers)
    except (UnicodeError, ValueError):
        return None  # malformed: authentication refuses it before anything is read
    return basic_id or oauth_request.form.get("client_id")


_CLIENT_AND_TOKEN = PreparedRead(tokens.client_with_access_token(AUTHENTICATION_COLUMNS))


def prefetch_client_and_token(oauth_request: OAuth2Request) -> None:
    """Read the claimed client and, if it is one of that client's access tokens, the token
    in one statement (one database round trip instead of two). Nothing is decided here: the
    client is remembered for authlib's authentication, which runs next as usual, and the
    token is only used if that succeeds and it is the authenticated client's own."""
    client_id, token_string = claimed_client_id(oauth_request), oauth_request.form.get("token")
    if not is_client_id(client_id) or not token_string \
            or len(token_string) > MAX_TOKEN_LENGTH:
        return
    with reader(db) as connection:
        mapping = _CLIENT_AND_TOKEN.first(connection, {
            "client_id": client_id, "digest": tokens.digest(token_string)})
    remember_client(client_id, mapping, AUTHENTICATION_COLUMNS)
    token = tokens.access_token_of(mapping) if mapping is not None else None
    if token is not None:
        g.tnid_prefetched_token = Prefetched(token_string, Found(token, "access_token"))


def repeated_parameter(form: MultiDict) -> str | None:
    """RFC 6749 §3.2: parameters MUST NOT be sent more than once."""
    for name in form:
        if len(form.getlist(name)) > 1:
            return name
    return None


def refuse_malformed_form() -> Response | None:
    """The shape every client-authenticated form endpoint (introspection, revocation) needs:
    POST, a form body, each parameter once. None when the request may proceed."""
    if request.method != "POST":
        return method_not_allowed(("POST",))
    if request.mimetype != "application/x-www-form-urlencoded":
        return _error("invalid_request", "The body must be application/x-www-form-urlencoded.")
    if (name := repeated_parameter(request.form)) is not None:
        return _error("invalid_request", f"Parameter '{name[:40]}' is repeated.")
    return None


@bp.route("/introspect", methods=["POST", "GET", "PUT", "PATCH", "DELETE"])
@limiter.exempt
def introspect() -> Response:
    if (refusal := refuse_malformed_form()) is not None:
        return refusal
    server = context.server()
    oauth_request = server.create_oauth2_request(request)
    try:
        with read_scope(db):  # the client lookup and the token lookup share one connection
            prefetch_client_and_token(oauth_request)
            response = server.create_endpoint_response(TokenIntrospection.ENDPOINT_NAME,
                                                       oauth_request)
    finally:
        g.pop("tnid_prefetched_token", None)  # ``g`` may outlive this request (tests)
    if db.session.registry.has():  # a private_key_jwt assertion's jti was recorded
        db.session.commit()
    response.headers["Cache-Control"] = "no-store"
    return response
