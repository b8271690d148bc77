"""``tnid logout deliver``: send the back-channel logout tokens that are due.

Run it from cron (every minute is plenty) on one node or on all: each delivery is claimed by
one sender. It retries what the sign-out's own thread could not deliver, on the schedule of
``idp.services.logout.BACKOFF``, and gives up after ``MAX_ATTEMPTS``.
"""

from __future__ import annotations

import click
from flask import Flask

from idp.cli.common import echo_json, with_app
from idp.extensions import db
from idp.oidc import context
from idp.services import logout as service
from idp.services.clock import utcnow


@click.group()
def logout() -> None:
    """Back-channel logout (OpenID Connect Back-Channel Logout 1.0)."""


@logout.command("deliver")
@click.option("--limit", type=click.IntRange(1, 10_000), default=500, show_default=True,
              help="Send at most this many deliveries in this run.")
@click.option("--json", "as_json", is_flag=True)
@with_app
def deliver(app: Flask, limit: int, as_json: bool) -> None:
    """Send the logout tokens that are due; print how many were delivered and failed."""
    delivered, failed = service.deliver_due(db.session, utcnow(), signer=context.signer(),
                                            limit=limit)
    if as_json:
        echo_json({"delivered": delivered, "failed": failed})
        return
    click.echo(f"Delivered {delivered} logout token(s); {failed} failed (retried later).")
