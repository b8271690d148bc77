"""Sending back-channel logout tokens (OIDC Back-Channel Logout 1.0 §2.5) without making the
citizen wait.

``TNID_LOGOUT_DELIVERY=background`` (default) sends from a short-lived thread after the
response: a first attempt, then quick retries on the schedule of ``services.logout.BACKOFF``
while the thread lives. ``inline`` makes one attempt before responding (tests, tiny pilots).
Whatever is still undelivered is retried by the next sign-out's thread and by
``tnid logout deliver`` (run it from cron every minute on one node, or on all: claims keep
each delivery to one sender).
"""

from __future__ import annotations

import logging
import threading
import time

from flask import Flask, current_app

from idp.extensions import db
from idp.oidc import context
from idp.services import logout
from idp.services.clock import utcnow
from idp.web import deps

log = logging.getLogger(__name__)
THREAD_NAME = "tnid-backchannel-logout"
QUICK_ATTEMPTS = 3  # now, +1 s, +5 s; later retries are for `tnid logout deliver`


def send(ids: list[int]) -> threading.Thread | None:
    """Send the deliveries ``ids`` (just committed); returns the thread in background mode."""
    if not ids:
        return None
    if deps.settings().logout_delivery == "inline":
        logout.deliver_due(db.session, utcnow(), signer=context.signer(), ids=ids)
        return None
    app = current_app._get_current_object()
    thread = threading.Thread(target=_run, args=(app, ids), daemon=True, name=THREAD_NAME)
    thread.start()
    return thread


def _run(app: Flask, ids: list[int]) -> None:
    with app.app_context():
        try:
            signer = context.signer()
            pending = ids
            for attempt in range(QUICK_ATTEMPTS):
                if attempt:
                    time.sleep(logout.BACKOFF[attempt - 1].total_seconds())
                logout.deliver_due(db.session, utcnow(), signer=signer, ids=pending)
                if attempt == 0:  # then what earlier sign-outs left behind
                    logout.deliver_due(db.session, utcnow(), signer=signer)
                pending = logout.undelivered(db.session, pending)
                db.session.commit()
                if not pending:
                    break
        except Exception:  # a background thread must log, never die silently
            log.exception("back-channel logout sender failed")
        finally:
            db.session.remove()
