"""The hand-off between the protocol and the sign-in screens (node-oidc-provider's
"interactions"): a pending authorization request travels as a signed, expiring token bound to
the browser that started it. The screens resume it at ``/authorize/resume`` when done.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

from flask import current_app, session, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer

SALT = "tnid.oidc.interaction"
MAX_AGE_SECONDS = 30 * 60  # long enough to find the password, short enough to go stale
BROWSER_KEY = "browser_id"


@dataclass(frozen=True)
class Interaction:
    params: dict[str, str]
    started: int  # epoch seconds: a sign-in or consent after this satisfies prompt=login/consent
    done: tuple[str, ...] = field(default=())

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


def start(params: dict[str, str]) -> str:
    return encode(Interaction(params=params, started=int(time.time())))


def load(token: str | None) -> Interaction | None:
    """The interaction, or None when the token is missing, forged, expired or was started in
    another browser (a forwarded link must not complete someone else's sign-in)."""
    if not token or len(token) > 16_384:
        return None
    try:
        data = _serializer().loads(token, max_age=MAX_AGE_SECONDS)
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("b") != session.get(BROWSER_KEY):
        return None
    params = data.get("p")
    if not isinstance(params, dict):
        return None
    return Interaction(params={str(k): str(v) for k, v in params.items()},
                       started=int(data.get("t", 0)), done=tuple(data.get("d", ())))


def mark_done(interaction: Interaction, step: str) -> str:
    return encode(Interaction(interaction.params, interaction.started,
                              (*interaction.done, step)))


def resume_url(token: str) -> str:
    return url_for("oidc.resume", interaction=token)
