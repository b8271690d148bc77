"""The step-up hook: when an app needs two factors and the session has one.

The citizen is sent to the second-factor screen (``idp.auth.second_factor``), which asks only
for the second factor — the session already holds the password — and resumes the request.
A session without the password (a QR sign-in at acr 1) cannot step up: the authorization
endpoint sends it to sign in with the password first when two factors are required.

Also the browser's memory of the last second factor given (``remember_second_factor``),
which the account pages read to allow security-sensitive changes for 10 minutes
(``idp.account.guard``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from flask import redirect, session, url_for
from werkzeug.wrappers import Response

from idp.models import Client, SsoSession
from idp.services.second_factors import Method, Proof, can_step_up

PROOF_KEY = "second_factor_proof"


def available(sso: SsoSession) -> bool:
    """Can this citizen add a second factor to the session right now? When the session holds
    the password (``can_step_up``): every account has a phone number for an SMS code (an
    authenticator app and recovery codes when set up)."""
    return can_step_up(list(sso.amr)) and bool(sso.citizen.phone)


def begin(interaction_token: str, sso: SsoSession, client: Client,
          params: Mapping[str, str]) -> Response:
    """The second-factor screen for the pending request (``params``: its parameters)."""
    return redirect(url_for("auth.second_factor", interaction=interaction_token))


def remember_second_factor(sso: SsoSession, method: Method) -> None:
    """A second factor was just given in this browser for this session (signed Flask
    session, bound to the ``sid``)."""
    session[PROOF_KEY] = {"sid": sso.sid, "at": int(time.time()), "method": method.value}


def last_second_factor() -> Proof | None:
    saved = session.get(PROOF_KEY)
    if not isinstance(saved, dict) or not isinstance(saved.get("at"), int):
        return None
    try:
        return Proof(sid=str(saved.get("sid")), at=saved["at"],
                     method=Method(saved.get("method")))
    except ValueError:
        return None
