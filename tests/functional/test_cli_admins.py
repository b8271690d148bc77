"""`tnid admins create|list|disable|reset-totp`: staff accounts from the command line."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from sqlalchemy import func, select

from idp.cli import cli
from idp.extensions import db
from idp.models import AuditEvent, StaffAccount
from idp.services import staff_accounts
from idp.services.clock import utcnow

PASSWORD = "mat-khau-quan-tri-2025"


@pytest.fixture
def tnid(config: dict[str, Any], app: Flask):  # noqa: ANN201
    """Invoke `tnid ...` in-process with the test database (``app`` empties it afterwards)."""
    runner = CliRunner()

    def invoke(*args: str, password: str = PASSWORD) -> Result:
        return runner.invoke(cli, list(args), env=config, input=password + "\n",
                             catch_exceptions=False)

    return invoke


def accounts(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(StaffAccount))


def stored(app: Flask, username: str) -> StaffAccount:
    with app.app_context():
        staff = db.session.scalar(select(StaffAccount).where(StaffAccount.username == username))
        assert staff is not None
        _ = staff.communes
        db.session.expunge(staff)
        return staff


def test_create_each_role_and_list(app, tnid):
    officer = tnid("admins", "create", "--username", "CanBo.SangMoc", "--role", "officer",
                   "--commune", "05719", "--commune", "5443", "--display-name", "Lê Thị Hoa",
                   "--password-stdin", "--json")
    assert officer.exit_code == 0, officer.output
    data = json.loads(officer.stdout)
    assert data["username"] == "canbo.sangmoc" and data["communes"] == ["05443", "05719"]
    assert data["totp_enrolled"] is False and "password" not in officer.stdout
    assert PASSWORD not in officer.output
    boss = tnid("admins", "create", "--username", "admin", "--role", "superadmin",
                "--password-stdin")
    assert boss.exit_code == 0 and "Created superadmin admin" in boss.output
    rows = json.loads(tnid("admins", "list", "--json").stdout)
    assert [r["username"] for r in rows] == ["admin", "canbo.sangmoc"]
    listing = tnid("admins", "list")
    assert "canbo.sangmoc" in listing.stdout and "05443,05719" in listing.stdout
    with app.app_context():
        created = list(db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "staff:account:created")))
    assert [e.actor_type for e in created] == ["system", "system"]


@pytest.mark.parametrize(("args", "password", "field"), [
    (["--username", "ab", "--role", "auditor"], PASSWORD, "username"),
    (["--username", "canbo.x", "--role", "officer"], PASSWORD, "communes"),
    (["--username", "canbo.x", "--role", "officer", "--commune", "00004"], PASSWORD,
     "commune_code"),
    (["--username", "canbo.x", "--role", "officer", "--commune", "abc"], PASSWORD,
     "commune_code"),
    (["--username", "kt", "--role", "auditor", "--commune", "05719"], PASSWORD, "username"),
    (["--username", "kiemtoan", "--role", "auditor", "--commune", "05719"], PASSWORD,
     "communes"),
    (["--username", "kiemtoan", "--role", "auditor"], "ngan-qua", "password"),
    (["--username", "kiemtoan", "--role", "auditor"], "", "password"),
])
def test_bad_input_one_line_nonzero_nothing_written(app, tnid, args, password, field):
    result = tnid("admins", "create", *args, "--password-stdin", password=password)
    assert result.exit_code != 0
    assert result.output.startswith(f"Error: {field}: ") and result.output.count("\n") == 1
    assert accounts(app) == 0


def test_wrong_role_and_missing_password_flag_are_refused(app, tnid):
    assert tnid("admins", "create", "--username", "root1", "--role", "root",
                "--password-stdin").exit_code == 2
    assert tnid("admins", "create", "--username", "root1", "--role", "auditor").exit_code == 2
    assert accounts(app) == 0


def test_duplicate_username(app, tnid):
    assert tnid("admins", "create", "--username", "kiemtoan", "--role", "auditor",
                "--password-stdin").exit_code == 0
    again = tnid("admins", "create", "--username", "KIEMTOAN", "--role", "auditor",
                 "--password-stdin")
    assert again.exit_code == 1 and again.output.startswith("Error: username: ")
    assert accounts(app) == 1


def test_disable_and_reset_totp(app, tnid):
    tnid("admins", "create", "--username", "canbo.a", "--role", "officer", "--commune",
         "05719", "--password-stdin")
    with app.app_context():
        staff = db.session.scalar(select(StaffAccount))
        staff_accounts.enable_with_secret(db.session, staff, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
                                          secret_key=app.config["SECRET_KEY"], now=utcnow())
        db.session.commit()
    version = stored(app, "canbo.a").session_version
    no_reason = tnid("admins", "reset-totp", "canbo.a", "--reason", "x")
    assert no_reason.exit_code == 1 and no_reason.output.startswith("Error: reason: ")
    assert tnid("admins", "reset-totp", "canbo.a").exit_code == 2
    reset = tnid("admins", "reset-totp", "canbo.a", "--reason", "Mất điện thoại")
    assert reset.exit_code == 0, reset.output
    after = stored(app, "canbo.a")
    assert after.totp_confirmed_at is None and after.session_version == version + 1
    assert tnid("admins", "disable", "nobody", "--reason", "Nghỉ việc").exit_code == 1
    done = tnid("admins", "disable", "CANBO.A", "--reason", "Nghỉ việc")
    assert done.exit_code == 0 and "Disabled canbo.a" in done.output
    assert stored(app, "canbo.a").disabled_at is not None
    again = tnid("admins", "disable", "canbo.a", "--reason", "Nghỉ việc")
    assert again.exit_code == 0 and "already disabled" in again.output
    assert json.loads(tnid("admins", "list", "--json").stdout)[0]["disabled"] is True
    with app.app_context():
        actions = [e.action for e in db.session.scalars(select(AuditEvent).order_by(
            AuditEvent.id))]
    assert actions == ["staff:account:created", "staff:totp:reset", "staff:account:disabled"]
