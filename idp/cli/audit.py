"""``tnid audit verify`` and ``tnid audit export``: the audit trail from the server's shell.

Both stream: the check walks the chain in batches and the export writes batch by batch, so
millions of entries cost time, not memory. The export is recorded in the trail itself
(actor "system": the command line has no staff sign-in; whoever runs it has the server).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask

from idp.cli.common import fail, with_app
from idp.extensions import db
from idp.models import StaffAccount, StaffRole
from idp.services import audit as audit_service
from idp.services import audit_search

REASONS = {
    "altered": "its content no longer matches its hash (changed after it was written)",
    "missing-or-reordered": "it does not chain to the entry before it (an entry was removed "
                            "or the order changed)",
    "inserted": "it was inserted afterwards between two entries that chain to each other",
}


@click.group("audit")
def audit() -> None:
    """The tamper-evident audit trail."""


@audit.command("verify")
@click.option("--batch", default=5000, show_default=True, hidden=True)
@with_app
def verify(app: Flask, batch: int) -> None:
    """Check the whole hash chain; exit code 1 at the first broken entry."""
    checked, broken = audit_service.verify_chain(db.session, batch=batch)
    if broken is None:
        click.echo(f"audit trail intact: {checked} entries")
        return
    click.echo(f"audit trail BROKEN at entry {broken.entry_id} ({broken.reason}): "
               f"{REASONS.get(broken.reason, broken.reason)}; {checked} entries before it "
               "are intact", err=True)
    sys.exit(1)


@audit.command("export")
@click.option("--since", default=None, help="First day, YYYY-MM-DD (Vietnam time).")
@click.option("--until", default=None, help="Last day, YYYY-MM-DD (included).")
@click.option("--action", default=None, help='Exact action, or a prefix ending with ":".')
@click.option("--citizen", default=None, help="Citizen CCCD or id.")
@click.option("--actor", default=None, help="Staff username or id, citizen CCCD or id.")
@click.option("--outcome", type=click.Choice(["success", "failure"]), default=None)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="CSV file to write (UTF-8, header row). '-' for standard output.")
@with_app
def export(app: Flask, out: Path, **options: str | None) -> None:
    """Write matching entries, newest first, as CSV."""
    try:
        filters = audit_search.parse_filters({k: v or "" for k, v in options.items()})
    except audit_search.InvalidFilter as error:
        fail(f"--{error.field}: {error.message}")
    # Never stored: the service checks AUDIT_READ, which whoever runs commands on the server
    # has anyway; a transient province administrator stands for them.
    operator = StaffAccount(username="cli", role=StaffRole.SUPERADMIN)
    audit_service.record(db.session, "staff:audit:exported", actor_type="system",
                         actor_id="cli", details={"filters": filters.describe(),
                                                  "via": "tnid audit export"})
    db.session.commit()
    rows = 0
    handle = sys.stdout if str(out) == "-" else out.open("w", encoding="utf-8", newline="")
    try:
        for chunk in audit_search.csv_rows(db.session, operator, filters):
            handle.write(chunk)
            rows += chunk.count("\r\n")
    finally:
        if handle is not sys.stdout:
            handle.close()
    if str(out) != "-":
        click.echo(f"Wrote {rows - 1} entries to {out}.")
