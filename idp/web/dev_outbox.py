"""``/dev/outbox``: the last 50 messages, for developers, e2e tests and community tech teams
trying the demo. Development only: production answers 404 (codes are readable here)."""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from sqlalchemy import select

from idp.extensions import db
from idp.models import OutboxMessage
from idp.web import deps

bp = Blueprint("dev", __name__, url_prefix="/dev")

LIMIT = 50


@bp.before_request
def development_only() -> None:
    if deps.settings().is_production:
        abort(404)


@bp.get("/outbox")
def outbox() -> str:
    messages = db.session.scalars(
        select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(LIMIT)).all()
    return render_template("dev/outbox.html", messages=messages)
