"""Helpers for second-factor tests: a citizen with a known authenticator key, real pyotp
codes, and the SMS codes the outbox received."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pyotp
from flask import Flask
from sqlalchemy import select, update

from idp.extensions import db
from idp.models import Citizen, OutboxMessage, TotpCredential
from idp.services import recovery_codes, totp
from idp.services.clock import utcnow

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def enable_totp(app: Flask, citizen_id: uuid.UUID, secret: str = SECRET) -> str:
    with app.app_context():
        citizen = db.session.get(Citizen, citizen_id)
        totp.enable_with_secret(db.session, citizen, secret, secret_key=app.config["SECRET_KEY"],
                                now=utcnow())
        db.session.commit()
    return secret


def code(secret: str = SECRET, *, steps: int = 0, at: datetime | None = None) -> str:
    """The authenticator's code now (or at ``at``), ``steps`` time steps later."""
    when = (at or datetime.now(UTC)) + timedelta(seconds=30 * steps)
    return pyotp.TOTP(secret).at(when)


def forget_used_steps(app: Flask) -> None:
    """Let every time step be used again (as if the next step had come)."""
    with app.app_context():
        db.session.execute(update(TotpCredential).values(last_used_step=None))
        db.session.commit()


def make_recovery_codes(app: Flask, citizen_id: uuid.UUID) -> list[str]:
    with app.app_context():
        citizen = db.session.get(Citizen, citizen_id)
        codes = recovery_codes.generate(db.session, citizen, now=utcnow())
        db.session.commit()
        return codes


def sms_messages(app: Flask, purpose: str | None = None) -> list[OutboxMessage]:
    with app.app_context():
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if purpose:
            query = query.where(OutboxMessage.purpose == purpose)
        rows = db.session.scalars(query).all()
        db.session.expunge_all()
        return list(rows)


def last_sms_code(app: Flask, purpose: str = "second_factor") -> str:
    messages = sms_messages(app, purpose)
    assert messages, f"no SMS for {purpose}"
    match = re.search(r"\b(\d{6})\b", messages[-1].body)
    assert match, messages[-1].body
    return match.group(1)
