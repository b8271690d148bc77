"""``tnid demo``: seed demonstration data (development only) and print how to sign in."""

from __future__ import annotations

import click
from flask import Flask

from idp import database
from idp.cli.common import fail, with_app
from idp.extensions import db
from idp.models import Citizen, StaffAccount
from idp.services import accounts, staff_accounts, totp
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

# A level-2 citizen with two-step sign-in: the authenticator key is fixed and printed so a
# person can add it to an app (or compute codes with pyotp). Demo only: a known key is no
# secret.
DEMO_TOTP_CITIZEN = accounts.NewCitizen(
    cccd="019190005678",  # 019 = Thái Nguyên, 1 = female born 19xx, 90 = 1990
    full_name="Trần Thị Bình",
    birthdate="1990-07-21",
    phone="0987654321",
    commune_code="05719",
    identity_level=2,
)
DEMO_TOTP_PASSWORD = "binh-thai-nguyen-demo-2025"
DEMO_TOTP_KEY = "TNIDDEMOKEY234567TNIDDEMOKEY2345"


# Demo staff of the console (/admin/login), with authenticator apps already set up on fixed,
# printed keys (demo only). (username, display name, role, communes, password, key)
DEMO_STAFF = [
    ("admin", "Quản trị viên tỉnh", "superadmin", [], "admin-thai-nguyen-demo-2025",
     "TNIDADMINKEY234567TNIDADMINKEY23"),
    ("canbo.sangmoc", "Cán bộ xã Sảng Mộc", "officer", ["05719"], "canbo-sang-moc-demo-2025",
     "TNIDCANBOKEY234567TNIDCANBOKEY23"),
    ("kiemtoan", "Kiểm toán viên", "auditor", [], "kiem-toan-thai-nguyen-2025",
     "TNIDAUDITKEY234567TNIDAUDITKEY23"),
]


def _seed_staff(username: str, display_name: str, role: str, communes: list[str],
                password: str, key: str) -> StaffAccount:
    now = utcnow()
    staff = staff_accounts.find(db.session, username)
    if staff is None:
        staff = staff_accounts.create_staff(
            db.session, username, role, communes, password, passwords=deps.passwords(),
            display_name=display_name, now=now)
    else:  # keep the printed password and key true even if someone changed them
        staff.password_hash = deps.passwords().hash(password)
        staff.disabled_at = None
    staff_accounts.enable_with_secret(db.session, staff, key,
                                      secret_key=deps.settings().secret_key, now=now)
    return staff


def _seed(new: accounts.NewCitizen, password: str) -> Citizen:
    citizen = accounts.find_by_identifier(db.session, new.cccd)
    if citizen is None:
        citizen = accounts.create_citizen(db.session, new, passwords=deps.passwords(),
                                          password=password, today=utcnow().date())
    else:  # keep the printed password true even if someone changed it
        citizen.password_hash = deps.passwords().hash(password)
    return citizen


@click.command()
@with_app
def demo(app: Flask) -> None:
    """Create the schema and the demo citizens (idempotent) and print the credentials."""
    if deps.settings().is_production:
        fail("Refusing to seed demo accounts in production.")
    database.upgrade(db.engine)
    citizen = _seed(DEMO_CITIZEN, DEMO_PASSWORD)
    second = _seed(DEMO_TOTP_CITIZEN, DEMO_TOTP_PASSWORD)
    second.identity_level = 2
    # The printed key is always the one that works (also after someone turned it off).
    totp.enable_with_secret(db.session, second, DEMO_TOTP_KEY,
                            secret_key=deps.settings().secret_key, now=utcnow())
    for entry in DEMO_STAFF:
        _seed_staff(*entry)
    db.session.commit()
    issuer = deps.settings().issuer
    key_groups = totp.group_key(DEMO_TOTP_KEY)
    click.echo(
        "\n".join([
            "",
            "ThaiNguyen ID demo",
            f"  Sign in at   {issuer}/login",
            "",
            f"  Citizen      {citizen.full_name}  (level 1, password only)",
            f"  CCCD         {citizen.cccd}",
            "  Phone        0912 345 678  (or +84912345678)",
            f"  Password     {DEMO_PASSWORD}",
            "",
            f"  Citizen      {second.full_name}  (level 2, two-step sign-in with an "
            "authenticator app)",
            f"  CCCD         {second.cccd}",
            "  Phone        0987 654 321",
            f"  Password     {DEMO_TOTP_PASSWORD}",
            f"  App key      {key_groups}  (add it to an authenticator app as a "
            "time-based key)",
            "  Code now     or run: .venv/bin/python -c 'import pyotp; "
            f"print(pyotp.TOTP(\"{DEMO_TOTP_KEY}\").now())'",
            "",
            "  SMS codes are stored, not sent: read them with `tnid outbox` (or /dev/outbox).",
            "",
            f"  Staff console  {issuer}/admin/login  (password, then a code from the "
            "authenticator app)",
            *_staff_lines(),
        ])
    )


def _staff_lines() -> list[str]:
    roles = {"superadmin": "province administrator", "officer": "commune officer of "
             "Xã Sảng Mộc (05719)", "auditor": "auditor, read-only"}
    lines: list[str] = []
    for username, _name, role, _communes, password, key in DEMO_STAFF:
        lines += [
            "",
            f"  Staff        {username}  ({roles[role]})",
            f"  Username     {username}",
            f"  Password     {password}",
            f"  Staff key    {totp.group_key(key)}",
            "  Code now     .venv/bin/python -c 'import pyotp; "
            f"print(pyotp.TOTP(\"{key}\").now())'",
        ]
    return [*lines, ""]
