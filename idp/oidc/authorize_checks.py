"""The checks of the authorization endpoint, in the order the endpoint runs them.

A check either passes, or raises one of: ``ErrorPage`` (client or redirect URI not trusted:
show a page, never redirect), ``ErrorRedirect`` (tell the app), ``Interact`` (the citizen must
do something first: sign in, choose an account, agree).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from flask import render_template, request, session, url_for
from flask_babel import lazy_gettext as _l
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select, update
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from idp.auth import step_up
from idp.extensions import db
from idp.models import Citizen, Client, PushedAuthorizationRequest, SsoSession
from idp.oidc import context
from idp.services import claims, consents, keys, tokens
from idp.services.clock import epoch, utcnow
from idp.services.scopes import ACR_RANK
from idp.web import i18n

PROMPTS = {"none", "login", "consent", "select_account"}
MAX_PARAM_LENGTH = 4096
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


class ErrorPage(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


class ErrorRedirect(Exception):
    def __init__(self, error: str, description: str) -> None:
        self.error = error
        self.description = description


class Interact(Exception):
    """The citizen has a step to take on a screen outside the protocol."""

    def __init__(self, step: str) -> None:
        self.step = step

    def url(self, token: str) -> str:
        endpoint = {"login": "auth.login", "select_account": "auth.select_account",
                    "consent": "auth.consent"}[self.step]
        return url_for(endpoint, interaction=token)


@dataclass(frozen=True)
class AuthorizationFacts:
    """What the code remembers of the sign-in that produced it."""

    sid: str
    auth_time: datetime
    acr: str
    amr: list[str]
    claims: dict | None


@dataclass
class Pending:
    values: MultiDict
    started: int | None
    done: tuple[str, ...]
    client: Client | None = None
    redirect_uri: str | None = None
    sso: SsoSession | None = None
    grant: Any = None
    claims_request: dict | None = None
    required_rank: int = 0   # essential: the app cannot accept less
    desired_rank: int = 0    # voluntary (acr_values): try, and say what was achieved
    prompts: set[str] = field(default_factory=set)

    @classmethod
    def from_params(cls, values: MultiDict, *, started: int | None,
                    done: tuple[str, ...]) -> Pending:
        return cls(values=values, started=started, done=done)

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
        return (self.client.get_allowed_scope(self.get("scope")) or "").split()

    def signed_in_since_start(self) -> bool:
        return (self.sso is not None and self.started is not None
                and epoch(self.sso.auth_time) >= self.started)


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


# --- before the client is trusted: errors are pages ---------------------------------------------


def load_pushed_request(values: MultiDict) -> MultiDict:
    """RFC 9126 §4: a ``request_uri`` from the PAR endpoint stands for the pushed parameters;
    it is single use and must come with the same client_id."""
    request_uri = values.get("request_uri")
    if not request_uri:
        return values
    now = utcnow()
    row = db.session.scalar(select(PushedAuthorizationRequest).where(
        PushedAuthorizationRequest.request_uri_hash == tokens.digest(request_uri)))
    if row is None or row.client_id != values.get("client_id") or row.expires_at <= now:
        raise ErrorPage("request_uri")
    claimed = db.session.execute(
        update(PushedAuthorizationRequest)
        .where(PushedAuthorizationRequest.id == row.id,
               PushedAuthorizationRequest.used_at.is_(None))
        .values(used_at=now).execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    if claimed != 1:
        raise ErrorPage("request_uri")
    return MultiDict(row.params)


def check_client(state: Pending) -> None:
    client_ids = state.values.getlist("client_id")
    if len(client_ids) != 1:
        raise ErrorPage("client")
    client = context.server().query_client(client_ids[0])
    if client is None:
        raise ErrorPage("client")
    state.client = client


def check_redirect_uri(state: Pending) -> None:
    uris = state.values.getlist("redirect_uri")
    if len(uris) != 1 or not state.client.check_redirect_uri(uris[0]):
        raise ErrorPage("redirect_uri")
    state.redirect_uri = uris[0]


# --- the request itself: errors go back to the app -----------------------------------------------


def check_single_values(state: Pending) -> None:
    """RFC 6749 §3.1: no parameter more than once; none absurdly long."""
    for name in state.values:
        values = state.values.getlist(name)
        if len(values) > 1:
            raise ErrorRedirect("invalid_request", f"Parameter '{name}' is repeated.")
        if len(values[0]) > MAX_PARAM_LENGTH:
            raise ErrorRedirect("invalid_request", f"Parameter '{name}' is too long.")
    if "openid" not in (state.get("scope") or "").split():
        raise ErrorRedirect("invalid_scope", "The 'openid' scope is required.")
    if state.get("request"):
        raise ErrorRedirect("request_not_supported", "Request objects are not supported.")


def check_response_mode(state: Pending) -> None:
    if state.get("response_mode") not in (None, "query"):
        raise ErrorRedirect("invalid_request", "Only response_mode=query is supported.")


def check_prompt(state: Pending) -> None:
    prompts = set((state.get("prompt") or "").split())
    if not prompts <= PROMPTS:
        raise ErrorRedirect("invalid_request", "Unknown 'prompt' value.")
    if "none" in prompts and len(prompts) > 1:
        raise ErrorRedirect("invalid_request", "'prompt=none' cannot be combined.")
    state.prompts = prompts


def apply_ui_locales(state: Pending) -> None:
    """OIDC Core §3.1.2.1: the app's language wish holds for the whole interaction."""
    if state.started is not None or not (wish := state.get("ui_locales")):
        return
    for tag in wish.split():
        if tag.split("-")[0].lower() in i18n.SUPPORTED:
            session["lang"] = tag.split("-")[0].lower()
            return


def check_max_age(state: Pending) -> None:
    raw = state.get("max_age")
    if raw is None:
        return
    if not raw.isdigit() or len(raw) > 9:
        raise ErrorRedirect("invalid_request", "'max_age' must be a non-negative integer.")
    if state.sso is not None and not state.signed_in_since_start():
        if time.time() - epoch(state.sso.auth_time) > int(raw):
            state.prompts.add("login")


def check_claims_request(state: Pending) -> None:
    raw = state.get("claims")
    if raw is None:
        return
    try:
        value = json.loads(raw)
    except ValueError:
        raise ErrorRedirect("invalid_request", "'claims' is not valid JSON.") from None
    members_ok = isinstance(value, dict) and all(
        k in ("userinfo", "id_token") and (v is None or isinstance(v, dict))
        for k, v in value.items())
    if not members_ok:
        raise ErrorRedirect("invalid_request", "'claims' must hold userinfo/id_token objects.")
    state.claims_request = value


def check_acr(state: Pending) -> None:
    """``acr_values`` is a wish; an essential ``acr`` claim or the app's minimum is a rule."""
    wished = [ACR_RANK[v] for v in (state.get("acr_values") or "").split() if v in ACR_RANK]
    state.desired_rank = min(wished) if wished else 0
    required = ACR_RANK.get(state.client.min_acr or "", 0)
    acr = (claims.requested(state.claims_request, "id_token") or {}).get("acr")
    if isinstance(acr, dict) and acr.get("essential"):
        values = [ACR_RANK[v] for v in acr.get("values") or [acr.get("value")]
                  if v in ACR_RANK]
        if not values:
            raise ErrorRedirect("invalid_request", "Unknown essential 'acr' value.")
        required = max(required, min(values))
    state.required_rank = required


def check_id_token_hint(state: Pending) -> None:
    """The app says who it expects: if a different citizen is signed in, ask to sign in."""
    hint = state.get("id_token_hint")
    if not hint:
        return
    try:
        token = jwt.decode(hint, KeySet.import_key_set(keys.public_jwks(db.session, utcnow())))
    except (JoseError, ValueError):
        raise ErrorRedirect("invalid_request", "'id_token_hint' is not valid.") from None
    if token.claims.get("iss") != context.issuer() or \
            state.client.client_id not in _audiences(token.claims):
        raise ErrorRedirect("invalid_request", "'id_token_hint' was not issued to this app.")
    citizen = state.citizen
    expected = (claims.subject(citizen.id, state.client, context.pairwise_secret())
                if citizen else None)
    if expected != token.claims.get("sub") and not state.signed_in_since_start():
        state.prompts.add("login")


def _audiences(claim_set: dict) -> list[str]:
    aud = claim_set.get("aud")
    return [aud] if isinstance(aud, str) else list(aud or [])


# --- interactions ---------------------------------------------------------------------------------


def check_login(state: Pending) -> None:
    needs = state.sso is None or ("login" in state.prompts and not state.signed_in_since_start())
    if not needs:
        return
    if "none" in state.prompts:
        raise ErrorRedirect("login_required", "The citizen is not signed in.")
    raise Interact("login")


def check_step_up(state: Pending) -> None:
    rank = ACR_RANK.get(state.sso.acr, 0)
    wanted = max(state.required_rank, state.desired_rank)
    if rank >= wanted:
        return
    if not step_up.available(state.sso) and rank >= state.required_rank:
        return  # only a wish: continue and report the acr achieved
    if "none" in state.prompts:
        raise ErrorRedirect("interaction_required", "A second factor is required.")
    raise Interact("step_up")


def check_select_account(state: Pending) -> None:
    if "select_account" in state.prompts and "select_account" not in state.done:
        raise Interact("select_account")


def check_consent(state: Pending) -> None:
    if state.client.trusted:
        return
    consent = consents.find(db.session, state.sso.citizen_id, state.client.client_id)
    asked_again = "consent" in state.prompts and "consent" not in state.done
    if consents.covers(consent, state.granted_scopes) and not asked_again:
        return
    if "none" in state.prompts:
        raise ErrorRedirect("consent_required", "The citizen has not agreed to share this.")
    raise Interact("consent")
