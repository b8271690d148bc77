"""``tnid init`` and ``tnid serve``."""

from __future__ import annotations

import click
from flask import Flask

from idp.cli.common import build_app, with_app


@click.command()
@with_app
def init(app: Flask) -> None:
    """Create or upgrade the database schema and the signing keys (idempotent)."""
    from idp import database
    from idp.extensions import db
    from idp.services import keys
    from idp.services.clock import utcnow
    from idp.web import deps

    before = database.current_revision(db.engine)
    database.upgrade(db.engine)
    after = database.current_revision(db.engine)
    if before == after:
        click.echo(f"Schema already up to date (revision {after}).")
    else:
        click.echo(f"Schema upgraded: {before or 'empty'} -> {after}.")
    created = keys.ensure_keys(db.session, keys.box_for(deps.settings().secret_key), utcnow())
    db.session.commit()
    click.echo(f"Signing keys: {len(created)} created." if created
               else "Signing keys already in place.")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
def serve(host: str, port: int) -> None:
    """Run the development server (production: gunicorn wsgi:app)."""
    app = build_app()
    if app.extensions["tnid.settings"].is_production:
        click.echo("Warning: development server; serve production with gunicorn.", err=True)
    click.echo(f"ThaiNguyen ID on http://{host}:{port}/  (Ctrl-C to stop)")
    app.run(host=host, port=port, debug=False, use_reloader=False, threaded=True)
