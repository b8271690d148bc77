"""``tnid outbox``: the messages sent to citizens, newest first (the ``outbox`` backend stores
them only; a commune pilot without an SMS gateway reads codes here)."""

from __future__ import annotations

import click
from flask import Flask
from sqlalchemy import select

from idp.cli.common import echo_json, fail, with_app
from idp.extensions import db
from idp.models import OutboxMessage
from idp.services import identifiers as ids
from idp.services.identifiers import InvalidInput


@click.command()
@click.option("--phone", help="Only messages to this phone number (any common format).")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True,
              help="How many messages.")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of text.")
@with_app
def outbox(app: Flask, phone: str | None, limit: int, as_json: bool) -> None:
    """List the latest SMS messages, newest first."""
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


def _row(m: OutboxMessage) -> dict:
    return {"id": m.id, "created_at": m.created_at.isoformat() + "Z", "recipient": m.recipient,
            "purpose": m.purpose, "body": m.body, "backend": m.backend, "attempts": m.attempts,
            "delivered_at": m.delivered_at.isoformat() + "Z" if m.delivered_at else None,
            "last_error": m.last_error}
