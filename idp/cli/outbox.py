"""``tnid outbox``: the messages sent to citizens, newest first (the ``outbox`` backend stores
them only; a commune pilot without an SMS gateway reads codes here). ``tnid outbox deliver``
sends again what a gateway refused or a stopped process left behind (run it from cron)."""

from __future__ import annotations

from datetime import timedelta

import click
from flask import Flask
from sqlalchemy import select

from idp import notify
from idp.cli.common import echo_json, fail, with_app
from idp.extensions import db
from idp.models import OutboxMessage
from idp.notify import delivery
from idp.services import identifiers as ids
from idp.services.clock import utcnow
from idp.services.identifiers import InvalidInput


@click.group(invoke_without_command=True)
@click.option("--phone", help="Only messages to this phone number (any common format).")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True,
              help="How many messages.")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of text.")
@click.pass_context
def outbox(ctx: click.Context, phone: str | None, limit: int, as_json: bool) -> None:
    """List the latest SMS messages, newest first (``tnid outbox deliver``: retry sending)."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(_list, phone=phone, limit=limit, as_json=as_json)


@with_app
def _list(app: Flask, phone: str | None, limit: int, as_json: bool) -> None:
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    if phone is not None:
        try:
            query = query.where(OutboxMessage.recipient == ids.normalize_phone(phone))
        except InvalidInput as error:
            fail(f"--phone: {error.message}")
    messages = db.session.scalars(query).all()
    if as_json:
        echo_json([_row(m) for m in messages])
        return
    if not messages:
        click.echo("No messages.")
        return
    for m in messages:
        state = ("delivered" if m.delivered_at else
                 f"failed: {m.last_error}" if m.last_error else "stored")
        click.echo(f"#{m.id}  {m.created_at:%Y-%m-%d %H:%M:%S} UTC  {m.recipient}  "
                   f"{m.purpose}  [{m.backend}, {state}]")
        click.echo("    " + m.body.replace("\n", "\n    "))


@outbox.command("deliver")
@click.option("--max-age-hours", type=click.IntRange(1, 24 * 30), default=24,
              show_default=True, help="Leave older messages alone.")
@with_app
def deliver(app: Flask, max_age_hours: int) -> None:
    """Send the messages not delivered yet (failed, or left by a stopped process) with the
    configured backend: at most 5 attempts each; a message with a code only while the code
    can still be used. Safe on several nodes at once (each message is claimed). For cron."""
    backend = notify.configured_backend()
    if not backend.delivers:
        click.echo(f"The {backend.name} backend stores messages only: nothing to deliver.")
        return
    ids_ = delivery.pending(db.session, backend.name, now=utcnow(),
                            max_age=timedelta(hours=max_age_hours))
    db.session.rollback()  # no transaction held while the gateway answers
    outcomes = [delivery.deliver_one(backend, message_id, db.engine) for message_id in ids_]
    click.echo(f"Delivered {outcomes.count(True)}, failed {outcomes.count(False)}, "
               f"skipped {outcomes.count(None)}.")


def _row(m: OutboxMessage) -> dict:
    return {"id": m.id, "created_at": m.created_at.isoformat() + "Z", "recipient": m.recipient,
            "purpose": m.purpose, "body": m.body, "backend": m.backend, "attempts": m.attempts,
            "delivered_at": m.delivered_at.isoformat() + "Z" if m.delivered_at else None,
            "last_error": m.last_error}
