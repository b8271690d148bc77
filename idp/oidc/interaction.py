"""The hand-off between the protocol and the sign-in screens (node-oidc-provider's
"interactions"): a pending authorization request travels as a signed, expiring token bound to
the browser that started it. The screens resume it at ``/authorize/resume`` when done.

The token is signed, not encrypted: it holds the parameters the app put in the browser's
address bar anyway (or pushed, RFC 9126), never a secret of the provider.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from flask import current_app, session, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer

from idp.web import i18n

SALT = "tnid.oidc.interaction"
MAX_AGE_SECONDS = 30 * 60  # long enough to find the password, short enough to go stale
MAX_TOKEN_LENGTH = 16_384
BROWSER_KEY = "browser_id"
STEPS = frozenset({"select_account", "consent"})


@dataclass(frozen=True)
class Interaction:
    params: dict[str, str]
    # Epoch milliseconds: a sign-in after this satisfies prompt=login, max_age, id_token_hint.
    started: int
    done: tuple[str, ...] = field(default=())  # screens the citizen has been through

    @property
    def client_id(self) -> str:
        return self.params.get("client_id", "")


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=SALT)


def _browser_id() -> str:
    if BROWSER_KEY not in session:
        session[BROWSER_KEY] = secrets.token_urlsafe(16)
    return session[BROWSER_KEY]


def encode(interaction: Interaction) -> str:
    return _serializer().dumps({"p": interaction.params, "t": interaction.started,
                                "d": list(interaction.done), "b": _browser_id()})


def load(token: str | None) -> Interaction | None:
    """The interaction, or None when the token is missing, forged, expired or was started in
    another browser (a forwarded link must not complete someone else's sign-in)."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    try:
        data = _serializer().loads(token, max_age=MAX_AGE_SECONDS)
    except BadSignature:
        return None
    browser = session.get(BROWSER_KEY)
    if not isinstance(data, dict) or browser is None or data.get("b") != browser:
        return None
    params, started, done = data.get("p"), data.get("t"), data.get("d")
    if not isinstance(params, dict) or not isinstance(started, int) \
            or not isinstance(done, list):
        return None
    return Interaction(params={str(k): str(v) for k, v in params.items()}, started=started,
                       done=tuple(str(step) for step in done if step in STEPS))


def mark_done(interaction: Interaction, step: str) -> str:
    return encode(Interaction(interaction.params, interaction.started,
                              (*interaction.done, step)))


def resume_url(token: str) -> str:
    return url_for("oidc.resume", interaction=token)


def ui_locale(params: Mapping[str, str]) -> str | None:
    """OIDC Core §3.1.2.1 ``ui_locales``: the first language we have that the app prefers."""
    for tag in params.get("ui_locales", "")[:200].split():
        primary = tag.split("-")[0].lower()
        if primary in i18n.SUPPORTED:
            return primary
    return None
