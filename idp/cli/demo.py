"""``tnid demo``: seed demonstration data (development only) and print how to sign in."""

from __future__ import annotations

import click
from flask import Flask

from idp import database
from idp.cli.common import fail, with_app
from idp.extensions import db
from idp.services import accounts
from idp.services.clock import utcnow
from idp.web import deps

DEMO_CITIZEN = accounts.NewCitizen(
    cccd="019085001234",  # 019 = Thái Nguyên, 0 = male born 19xx, 85 = 1985
    full_name="Nguyễn Văn An",
    birthdate="1985-03-12",
    phone="0912345678",
    email="an.nguyen@example.vn",
    commune_code="05719",  # Xã Sảng Mộc
)
DEMO_PASSWORD = "thai-nguyen-demo-2025"


@click.command()
@with_app
def demo(app: Flask) -> None:
    """Create the schema and the demo citizen (idempotent) and print the credentials."""
    if deps.settings().is_production:
        fail("Refusing to seed demo accounts in production.")
    database.upgrade(db.engine)
    citizen = accounts.find_by_identifier(db.session, DEMO_CITIZEN.cccd)
    if citizen is None:
        citizen = accounts.create_citizen(
            db.session, DEMO_CITIZEN, passwords=deps.passwords(), password=DEMO_PASSWORD,
            today=utcnow().date(),
        )
    else:  # keep the printed password true even if someone changed it
        citizen.password_hash = deps.passwords().hash(DEMO_PASSWORD)
    db.session.commit()
    issuer = deps.settings().issuer
    click.echo(
        "\n".join([
            "",
            "ThaiNguyen ID demo",
            f"  Sign in at   {issuer}/login",
            f"  Citizen      {citizen.full_name}",
            f"  CCCD         {citizen.cccd}",
            "  Phone        0912 345 678  (or +84912345678)",
            f"  Password     {DEMO_PASSWORD}",
            "",
        ])
    )
