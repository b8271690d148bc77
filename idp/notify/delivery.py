"""Delivery outside the request: the citizen's page never waits for the SMS gateway.

``notify.send_sms`` stores the message with the caller's transaction; once that commits, the
message ids go to a small in-process queue served by one daemon thread (started lazily, and
again in a forked worker). The thread reads the row by id, *claims* it (a guarded UPDATE
that sets ``claimed_at``: until the outcome is written, or the lease runs out, no other
thread, node or cron run sends it), asks the backend,
and writes the outcome (``delivered_at`` or ``last_error``; a delivered message's codes are
blanked). Everything lives in the database, so a message whose process died is sent by any
node's ``tnid outbox deliver`` (``pending`` + ``deliver_one``).

Why a thread and not the request: a gateway round trip of 400 ms in the request made
"known identifier" measurably slower than "unknown" on /forgot-password and /unlock.

Tests call ``drain()`` to wait until every queued message has been handled (no sleeps).
"""

from __future__ import annotations

import logging
import os
import queue
import re
import threading
import time
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from idp.models import OutboxMessage
from idp.notify.backends import Backend, Delivery, Outgoing
from idp.services.clock import utcnow

log = logging.getLogger("tnid.notify")

_CODES = re.compile(r"[0-9]{4,}")
# A six-digit code standing alone (the codes of ``one_time_codes``); times and dates in
# notices ("14:05 22/11/2026") never match.
CODE_IN_TEXT = re.compile(r"(?<![0-9])[0-9]{6}(?![0-9])")
MAX_ATTEMPTS = 5
# Longer than any gateway timeout: a claim older than this belongs to a sender that died.
CLAIM_LEASE = timedelta(minutes=2)
# A code is worth delivering while it can still be used (``one_time_codes.LIFETIME``).
CODE_RETRY_AGE = timedelta(minutes=5)
_MESSAGES = OutboxMessage.__table__.c


def deliver_one(backend: Backend, message_id: int, engine: Engine) -> bool | None:
    """Send one stored message. True: delivered, False: failed (recorded), None: nothing to
    do (already delivered, claimed elsewhere, or gone)."""
    try:
        with engine.connect() as connection:
            row = connection.execute(select(_MESSAGES.id, _MESSAGES.recipient,
                                            _MESSAGES.purpose, _MESSAGES.body,
                                            _MESSAGES.attempts, _MESSAGES.delivered_at)
                                     .where(_MESSAGES.id == message_id)).first()
        if row is None or row.delivered_at is not None:
            return None
        now = utcnow()
        with engine.begin() as connection:  # claim: one sender at a time, whatever node
            won = connection.execute(
                update(OutboxMessage.__table__)
                .where(_MESSAGES.id == message_id, _MESSAGES.delivered_at.is_(None),
                       _MESSAGES.attempts == row.attempts,
                       or_(_MESSAGES.claimed_at.is_(None),
                           _MESSAGES.claimed_at < now - CLAIM_LEASE))
                .values(attempts=_MESSAGES.attempts + 1, claimed_at=now)).rowcount
        if won != 1:
            return None
    except SQLAlchemyError:
        log.exception("could not read sms for delivery", extra={"message_id": message_id})
        return None
    try:
        result = backend.deliver(Outgoing(row.id, row.recipient, row.purpose, row.body))
    except Exception:  # a backend bug must not stop the other messages
        log.exception("sms backend failed", extra={"message_id": message_id})
        result = Delivery(False, "backend error")
    # The outcome ends the claim: a failed message may be claimed again (a retry).
    values: dict = {"last_error": result.error, "claimed_at": None}
    if result.delivered:
        values["delivered_at"] = utcnow()
        values["body"] = _CODES.sub(lambda m: "*" * len(m[0]), row.body)
    try:
        with engine.begin() as connection:
            connection.execute(update(OutboxMessage.__table__)
                               .where(_MESSAGES.id == message_id).values(**values))
    except SQLAlchemyError:
        log.exception("could not record sms delivery", extra={"message_id": message_id})
    return result.delivered


def pending(connection_or_session: object, backend_name: str, *, now: datetime,
            max_age: timedelta) -> list[int]:
    """Ids of messages for ``backend_name`` still to deliver: not delivered, fewer than
    ``MAX_ATTEMPTS`` attempts, younger than ``max_age`` — and, when they carry a code, young
    enough for the code to work."""
    rows = connection_or_session.execute(  # type: ignore[attr-defined]
        select(_MESSAGES.id, _MESSAGES.body, _MESSAGES.created_at)
        .where(_MESSAGES.backend == backend_name, _MESSAGES.delivered_at.is_(None),
               _MESSAGES.attempts < MAX_ATTEMPTS, _MESSAGES.created_at > now - max_age)
        .order_by(_MESSAGES.id)).all()
    return [r.id for r in rows
            if not CODE_IN_TEXT.search(r.body) or r.created_at > now - CODE_RETRY_AGE]


class _Worker:
    """One queue and one daemon thread per process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def put(self, backend: Backend, message_id: int, engine: Engine) -> None:
        with self._lock:
            if self._pid != os.getpid():  # a forked worker: the parent's thread is not here
                self._queue, self._thread, self._pid = queue.Queue(), None, os.getpid()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, args=(self._queue,),
                                                name="tnid-sms-delivery", daemon=True)
                self._thread.start()
            self._queue.put((backend, message_id, engine))

    @staticmethod
    def _run(jobs: queue.Queue) -> None:
        while True:
            backend, message_id, engine = jobs.get()
            try:
                deliver_one(backend, message_id, engine)
            except Exception:  # never let the thread die
                log.exception("sms delivery failed", extra={"message_id": message_id})
            finally:
                jobs.task_done()

    def drain(self, timeout: float) -> bool:
        jobs = self._queue
        deadline = time.monotonic() + timeout
        with jobs.all_tasks_done:
            while jobs.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0 or not jobs.all_tasks_done.wait(left):
                    return not jobs.unfinished_tasks
        return True


_worker = _Worker()


def enqueue(backend: Backend, message_id: int, engine: Engine) -> None:
    _worker.put(backend, message_id, engine)


def drain(timeout: float = 30) -> bool:
    """Wait until every queued message was handled (tests, shutdown). False on timeout."""
    return _worker.drain(timeout)
