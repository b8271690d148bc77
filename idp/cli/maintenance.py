"""``tnid purge``: delete protocol state that can no longer be used (run it from cron)."""

from __future__ import annotations

import click
from flask import Flask

from idp.cli.common import echo_json, with_app
from idp.extensions import db
from idp.services import housekeeping
from idp.services.clock import utcnow
from idp.web import deps


@click.command()
@click.option("--json", "as_json", is_flag=True)
@with_app
def purge(app: Flask, as_json: bool) -> None:
    """Delete expired codes, tokens, sessions, pushed requests, retired keys, SMS codes,
    QR sign-in requests and sent messages older than 30 days."""
    removed = housekeeping.purge(db.session, utcnow(), deps.session_policy())
    db.session.commit()
    if as_json:
        echo_json(removed)
        return
    for table, count in removed.items():
        click.echo(f"{table:32} {count}")
