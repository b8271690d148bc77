"""``tnid admins create|list|disable|reset-totp``: staff accounts of the console.

The first superadmin is made here (the console can only be reached by staff). The new
account enrols its authenticator app at its first sign-in on /admin/login. Every change is
audited with actor "system" (the operator at the command line).
"""

from __future__ import annotations

from typing import Any

import click
from flask import Flask

from idp.cli.citizens import read_password_stdin
from idp.cli.common import echo_json, fail, with_app
from idp.extensions import db
from idp.models import StaffAccount, StaffRole
from idp.services import staff_accounts
from idp.services.clock import utcnow
from idp.services.identifiers import InvalidInput
from idp.web import deps


@click.group()
def admins() -> None:
    """Staff accounts of the console (/admin)."""


@admins.command("create")
@click.option("--username", required=True, help="3-64 characters: a-z, 0-9, dot, dash, underscore.")
@click.option("--role", required=True, type=click.Choice([r.value for r in StaffRole]))
@click.option("--commune", "communes", multiple=True,
              help="Commune/ward code of Thái Nguyên (officers: at least one; repeatable).")
@click.option("--display-name", default="", help="Name shown in the console.")
@click.option("--password-stdin", is_flag=True, required=True,
              help="Read the initial password (at least 12 characters) from standard input.")
@click.option("--json", "as_json", is_flag=True, help="Print the new account as JSON.")
@with_app
def create(app: Flask, username: str, role: str, communes: tuple[str, ...], display_name: str,
           password_stdin: bool, as_json: bool) -> None:
    """Create a staff account. Nothing is written if any value is invalid."""
    password = read_password_stdin()
    try:
        staff = staff_accounts.create_staff(
            db.session, username, role, communes, password, passwords=deps.passwords(),
            display_name=display_name, now=utcnow())
        db.session.commit()
    except InvalidInput as error:
        db.session.rollback()
        fail(f"{error.field}: {error.message}")
    if as_json:
        echo_json(_public(staff))
    else:
        click.echo(f"Created {staff.role.value} {staff.username} ({staff.id}); the authenticator "
                   "app is set up at the first sign-in on /admin/login.")


@admins.command("list")
@click.option("--json", "as_json", is_flag=True)
@with_app
def list_(app: Flask, as_json: bool) -> None:
    """List staff accounts by username."""
    rows = [_public(s) for s in staff_accounts.list_staff(db.session)]
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        state = "disabled" if row["disabled"] else "active"
        totp = "totp" if row["totp_enrolled"] else "no-totp"
        click.echo(f"{row['username']:24} {row['role']:10} {state:8} {totp:7} "
                   f"{','.join(row['communes']) or '-'}")
    click.echo(f"{len(rows)} staff account(s).", err=True)


def _find(username: str) -> StaffAccount:
    staff = staff_accounts.find(db.session, username)
    if staff is None:
        fail(f"No staff account named {username!r}.")
    assert staff is not None
    return staff


@admins.command("disable")
@click.argument("username")
@click.option("--reason", required=True, help="Why (at least 5 characters; audited).")
@with_app
def disable(app: Flask, username: str, reason: str) -> None:
    """Disable a staff account and end its console sessions."""
    staff = _find(username)
    try:
        changed = staff_accounts.disable(db.session, staff, reason=reason, actor=None, ip=None,
                                         now=utcnow())
        db.session.commit()
    except InvalidInput as error:
        db.session.rollback()
        fail(f"{error.field}: {error.message}")
    click.echo(f"Disabled {staff.username}." if changed
               else f"{staff.username} was already disabled.")


@admins.command("reset-totp")
@click.argument("username")
@click.option("--reason", required=True, help="Why (at least 5 characters; audited).")
@with_app
def reset_totp(app: Flask, username: str, reason: str) -> None:
    """Forget the account's authenticator app: a new one is set up at the next sign-in."""
    staff = _find(username)
    try:
        staff_accounts.reset_totp(db.session, staff, reason=reason, actor=None, ip=None,
                                  now=utcnow())
        db.session.commit()
    except InvalidInput as error:
        db.session.rollback()
        fail(f"{error.field}: {error.message}")
    click.echo(f"Reset the authenticator app of {staff.username}; their console sessions "
               "ended.")


def _public(staff: StaffAccount) -> dict[str, Any]:
    return {
        "id": str(staff.id), "username": staff.username, "display_name": staff.display_name,
        "role": staff.role.value, "communes": sorted(staff.commune_codes),
        "totp_enrolled": staff_accounts.is_enrolled(staff),
        "disabled": staff.disabled_at is not None,
        "last_sign_in_at": staff.last_sign_in_at.isoformat(timespec="seconds")
        if staff.last_sign_in_at else None,
        "created_at": staff.created_at.isoformat(timespec="seconds"),
    }
