"""Sending back-channel logout tokens without making the citizen wait.

``TNID_LOGOUT_DELIVERY=background`` (default) sends from a short-lived thread after the
response, with a few quick retries; ``inline`` sends before responding (tests, tiny pilots).
Whatever is still undelivered is retried by any later sign-out and by `tnid logout deliver`.
"""

from __future__ import annotations

import logging
import threading
import time

from flask import Flask, current_app

from idp.extensions import db
from idp.services import logout
from idp.services.clock import utcnow
from idp.web import deps

log = logging.getLogger(__name__)
QUICK_RETRY_DELAYS = (1.0, 5.0)


def send(ids: list[int]) -> threading.Thread | None:
    if not ids:
        return None
    if deps.settings().logout_delivery == "inline":
        logout.deliver_due(db.session, utcnow(), ids=ids)
        return None
    app = current_app._get_current_object()
    thread = threading.Thread(target=_run, args=(app, ids), daemon=True,
                              name="tnid-backchannel-logout")
    thread.start()
    return thread


def _run(app: Flask, ids: list[int]) -> None:
    with app.app_context():
        try:
            logout.deliver_due(db.session, utcnow())  # also retries older leftovers
            for delay in QUICK_RETRY_DELAYS:
                time.sleep(delay)
                logout.deliver_due(db.session, utcnow(), ids=ids)
        except Exception:  # a background thread must log, never die silently
            log.exception("back-channel logout sender failed")
        finally:
            db.session.remove()
