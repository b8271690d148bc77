"""The request checks of the authorization endpoint, in the order the endpoint runs them
(OIDC Core §3.1.2.1-2, RFC 6749 §4.1.1). The pushed-request endpoint (RFC 9126) runs the same
list, so a request is judged the same way whichever door it came through.

A check either passes, or raises one of: ``ErrorPage`` (client or redirect URI not trusted:
show a page, never redirect), ``ErrorRedirect`` or an authlib ``OAuth2Error`` (tell the app).
The checks of what the citizen must do (sign in, choose, agree) are in ``idp.oidc.authorize``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from flask import render_template, request
from flask_babel import lazy_gettext as _l
from joserfc import jwt
from joserfc.jwk import KeySet
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from idp.extensions import db
from idp.models import Citizen, Client, SsoSession
from idp.oidc import context
from idp.oidc.pkce import S256CodeChallenge
from idp.services import claims, keys
from idp.services.clock import utcnow
from idp.services.keys import SUPPORTED_ALGS
from idp.services.scopes import ACR_RANK

PROMPTS = {"none", "login", "consent", "select_account"}
# One parameter, and the whole request: the pending request travels in a signed URL token
# (idp.oidc.interaction), which browsers and proxies must still accept.
MAX_PARAM_LENGTH = 4096
MAX_REQUEST_LENGTH = 8192
MAX_NONCE_LENGTH = 255
PAGE_REASONS = {
    "client": _l("This app is not registered with ThaiNguyen ID, so we cannot sign you in "
                 "to it. Please go back and try again, or contact the app's owner."),
    "redirect_uri": _l("This app asked to send you to an address it has not registered. "
                       "For your safety we stopped here. Please contact the app's owner."),
    "request_uri": _l("This sign-in request has expired or was already used. Please go back "
                      "to the app and start again."),
    "expired": _l("This sign-in request has expired or was opened in another browser. Please "
                  "go back to the app and start again."),
    "malformed": _l("This sign-in request is not valid. Please go back to the app and start "
                    "again."),
}
_PKCE = S256CodeChallenge(required=True)  # the one home of the PKCE rules (idp.oidc.pkce)


class ErrorPage(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


class ErrorRedirect(Exception):
    def __init__(self, error: str, description: str) -> None:
        self.error = error
        self.description = description


@dataclass
class Pending:
    """One authorization request as it goes through the checks."""

    values: MultiDict
    started: int | None  # epoch milliseconds the interaction began; None on the first visit
    done: tuple[str, ...]
    client: Client | None = None
    redirect_uri: str | None = None
    scope: str = ""  # what the app asked for and may have: the scope a code would carry
    sso: SsoSession | None = None
    grant: Any = None  # the authlib grant that issues the code
    claims_request: dict | None = None
    max_age: int | None = None
    hint_sub: str | None = None  # the ``sub`` of a valid id_token_hint
    required_rank: int = 0   # essential: the app cannot accept less
    desired_rank: int = 0    # voluntary (acr_values): try, and say what was achieved
    prompts: set[str] = field(default_factory=set)

    @classmethod
    def from_params(cls, values: MultiDict, *, started: int | None,
                    done: tuple[str, ...]) -> Pending:
        # RFC 6749 §3.1: a parameter sent without a value is treated as omitted.
        present = MultiDict([(k, v) for k, v in values.items(multi=True) if v != ""])
        return cls(values=present, started=started, done=done)

    def get(self, name: str) -> str | None:
        value = self.values.get(name)
        return value if isinstance(value, str) else None

    @property
    def single_params(self) -> dict[str, str]:
        return {k: v for k, v in self.values.items()}

    @property
    def citizen(self) -> Citizen | None:
        return self.sso.citizen if self.sso is not None else None

    @property
    def granted_scopes(self) -> list[str]:
        return self.scope.split()

    def signed_in_since_start(self) -> bool:
        """Did the citizen sign in during this interaction (after it began)?"""
        if self.sso is None or self.started is None:
            return False
        return self.sso.auth_time.replace(tzinfo=UTC).timestamp() * 1000 >= self.started


def now_ms() -> int:
    return int(time.time() * 1000)


def oauth_request(state: Pending) -> OAuth2Request:
    oauth = OAuth2Request("GET", request.base_url)
    payload = BasicOAuth2Payload(state.single_params)
    payload._datalist = {k: state.values.getlist(k) for k in state.values}
    oauth.payload = payload
    return oauth


def render_error_page(reason: str) -> Response:
    message = PAGE_REASONS.get(reason, PAGE_REASONS["malformed"])
    html = render_template("errors/error.html", status=400, message=message)
    return Response(html, status=400, mimetype="text/html")


def redirect_to_client(state: Pending, params: dict[str, str], *,
                       response: Response | None = None) -> Response:
    """Every redirect back to the app carries ``iss`` (RFC 9207) and ``state``."""
    if response is not None:  # a code response: authlib already added code and state
        response.location = add_params_to_uri(response.location, {"iss": context.issuer()})
        return response
    extra = {k: v for k, v in params.items() if v}
    if value := state.get("state"):
        extra["state"] = value
    extra["iss"] = context.issuer()
    return Response(status=302,
                    headers={"Location": add_params_to_uri(state.redirect_uri, extra)})


# --- before the client is trusted: errors are pages (RFC 6749 §4.1.2.1) -------------------------


def check_client(state: Pending) -> None:
    client_ids = state.values.getlist("client_id")
    if len(client_ids) != 1:
        raise ErrorPage("client")
    client = context.server().query_client(client_ids[0])
    if client is None:
        raise ErrorPage("client")
    state.client = client


def check_redirect_uri(state: Pending) -> None:
    """OIDC Core §3.1.2.1: redirect_uri is required and must match a registered one exactly."""
    uris = state.values.getlist("redirect_uri")
    if len(uris) != 1 or not state.client.check_redirect_uri(uris[0]):
        raise ErrorPage("redirect_uri")
    state.redirect_uri = uris[0]


# --- the request itself: errors go back to the app ----------------------------------------------


def check_single_values(state: Pending) -> None:
    """RFC 6749 §3.1: no parameter more than once; none absurdly long."""
    total = 0
    for name in state.values:
        values = state.values.getlist(name)
        if len(values) > 1:
            raise ErrorRedirect("invalid_request", f"Parameter '{name[:40]}' is repeated.")
        if len(values[0]) > MAX_PARAM_LENGTH:
            raise ErrorRedirect("invalid_request", f"Parameter '{name[:40]}' is too long.")
        total += len(name) + len(values[0])
    if total > MAX_REQUEST_LENGTH:
        raise ErrorRedirect("invalid_request", "The request is too long.")


def check_response_type(state: Pending) -> None:
    """Authorization code flow only (OIDC Core §3.1.2.1, RFC 6749 §4.1.1)."""
    response_type = state.get("response_type")
    if response_type is None:
        raise ErrorRedirect("invalid_request", "'response_type' is required.")
    if response_type != "code":
        raise ErrorRedirect("unsupported_response_type", "Only response_type=code is supported.")
    state.grant = context.server().get_authorization_grant(oauth_request(state))
    state.grant.request.client = state.client


def check_response_mode(state: Pending) -> None:
    """OAuth 2.0 Multiple Response Types §2.1: only the default for code, ``query``."""
    if state.get("response_mode") not in (None, "query"):
        raise ErrorRedirect("invalid_request", "Only response_mode=query is supported.")


def check_request_object(state: Pending) -> None:
    """OIDC Core §6: request objects are not supported (discovery says so)."""
    if state.get("request") is not None:
        raise ErrorRedirect("request_not_supported", "Request objects are not supported.")


def check_scope(state: Pending) -> None:
    """OIDC Core §3.1.2.1: ``openid`` is required; scope values not understood are ignored,
    and so are scopes the app is not registered for (RFC 6749 §3.3)."""
    if "openid" not in (state.get("scope") or "").split():
        raise ErrorRedirect("invalid_scope", "The 'openid' scope is required.")
    state.scope = state.client.get_allowed_scope(state.get("scope"))
    state.grant.request.scope = state.scope


def check_pkce(state: Pending) -> None:
    """RFC 7636 §4.3 with S256 only; mandatory for public clients (RFC 9700 §2.1.1)."""
    _PKCE.validate_code_challenge(state.grant, state.redirect_uri)


def check_nonce(state: Pending) -> None:
    """OIDC Core §3.1.2.1: the nonce is stored with the code to go into the ID token; like
    node-oidc-provider we bound its length (the column holds 255)."""
    if len(state.get("nonce") or "") > MAX_NONCE_LENGTH:
        raise ErrorRedirect("invalid_request", "'nonce' is too long (at most 255 characters).")


def check_prompt(state: Pending) -> None:
    """OIDC Core §3.1.2.1: ``none`` cannot be combined with another value."""
    prompts = set((state.get("prompt") or "").split())
    if not prompts <= PROMPTS:
        raise ErrorRedirect("invalid_request", "Unknown 'prompt' value.")
    if "none" in prompts and len(prompts) > 1:
        raise ErrorRedirect("invalid_request", "'prompt=none' cannot be combined.")
    state.prompts = prompts


def check_max_age(state: Pending) -> None:
    raw = state.get("max_age")
    if raw is None:
        return
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise ErrorRedirect("invalid_request", "'max_age' must be a non-negative integer.")
    state.max_age = int(raw)


def check_claims_request(state: Pending) -> None:
    """OIDC Core §5.5: a JSON object whose ``userinfo`` and ``id_token`` members, if present,
    are objects whose members are null or an object; other members are ignored."""
    raw = state.get("claims")
    if raw is None:
        return
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise ErrorRedirect("invalid_request", "'claims' is not valid JSON.") from None
    members = {k: v for k, v in value.items() if k in ("userinfo", "id_token")} \
        if isinstance(value, dict) else None
    if members is None or not all(
            isinstance(v, dict) and all(c is None or isinstance(c, dict) for c in v.values())
            for v in members.values()):
        raise ErrorRedirect("invalid_request", "'claims' must hold userinfo/id_token objects.")
    state.claims_request = members


def check_acr(state: Pending) -> None:
    """``acr_values`` is a wish (OIDC Core §3.1.2.1); an essential ``acr`` claim (§5.5.1.1)
    or the app's registered minimum is a rule."""
    wished = [ACR_RANK[v] for v in (state.get("acr_values") or "").split() if v in ACR_RANK]
    state.desired_rank = min(wished) if wished else 0
    required = ACR_RANK.get(state.client.min_acr or "", 0)
    acr = (claims.requested(state.claims_request, "id_token") or {}).get("acr")
    if isinstance(acr, dict) and acr.get("essential") is True:
        asked = acr.get("values") if "values" in acr else [acr.get("value")]
        if not isinstance(asked, list):
            raise ErrorRedirect("invalid_request", "The 'acr' claim request is not valid.")
        ranks = [ACR_RANK[v] for v in asked if isinstance(v, str) and v in ACR_RANK]
        if not ranks:
            raise ErrorRedirect("invalid_request", "Unknown essential 'acr' value.")
        required = max(required, min(ranks))
    state.required_rank = required


def check_id_token_hint(state: Pending) -> None:
    """OIDC Core §3.1.2.1: an ID token we issued to this app (expired is fine); who it names
    is compared with the signed-in citizen when deciding whether to sign in again."""
    hint = state.get("id_token_hint")
    if hint is None:
        return
    try:
        key_set = KeySet.import_key_set(keys.public_jwks(db.session, utcnow()))
        token = jwt.decode(hint, key_set, algorithms=list(SUPPORTED_ALGS))
    except Exception:  # noqa: BLE001 - joserfc raises many types on hostile input
        raise ErrorRedirect("invalid_request", "'id_token_hint' is not valid.") from None
    aud = token.claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    sub = token.claims.get("sub")
    if token.claims.get("iss") != context.issuer() or state.client.client_id not in audiences \
            or not isinstance(sub, str):
        raise ErrorRedirect("invalid_request", "'id_token_hint' was not issued to this app.")
    state.hint_sub = sub


# Shared with the pushed-request endpoint; the order is the order errors are reported in.
REQUEST_CHECKS = (
    check_single_values, check_response_type, check_response_mode, check_request_object,
    check_scope, check_pkce, check_nonce, check_prompt, check_max_age, check_claims_request,
    check_acr, check_id_token_hint,
)
