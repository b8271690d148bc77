"""The `tnid` command: init, citizens create|show|list, demo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from idp.cli import cli
from idp.extensions import db
from idp.models import Citizen

GOOD = ["--cccd", "019185000123", "--name", "Trần Thị Bình", "--phone", "0987 654 321",
        "--birthdate", "1985-06-01", "--commune", "5719"]


@pytest.fixture
def tnid(config):  # noqa: ANN001, ANN201
    """Invoke `tnid ...` in-process with the test database in the environment."""
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):  # noqa: A002, ANN202
        return runner.invoke(cli, list(args), input=input, env=config, catch_exceptions=False)

    return invoke


def citizen_count(app) -> int:  # noqa: ANN001
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Citizen))


def test_init_is_idempotent(tnid):
    first = tnid("init")
    assert first.exit_code == 0, first.output
    second = tnid("init")
    assert second.exit_code == 0 and "up to date" in second.output


def test_create_with_password_from_stdin(app, tnid, auth):
    result = tnid("citizens", "create", *GOOD, "--gender", "female", "--password-stdin", "--json",
                  input="một mật khẩu dài 2025\n")
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert created["phone"] == "+84987654321" and created["commune_code"] == "05719"
    assert created["gender"] == "female" and created["has_password"] is True
    assert "mật khẩu" not in result.output
    assert auth.login("0987654321", "một mật khẩu dài 2025").status_code == 302


def test_create_without_password_leaves_account_inactive(app, tnid):
    result = tnid("citizens", "create", *GOOD)
    assert result.exit_code == 0, result.output
    shown = json.loads(tnid("citizens", "show", "019185000123", "--json").output)
    assert shown["has_password"] is False and shown["identity_level"] == 1


@pytest.mark.parametrize("change,field", [
    ({"--cccd": "12345"}, "cccd"),
    ({"--cccd": "999185000123"}, "cccd"),                 # no such province code
    ({"--birthdate": "1990-06-01"}, "birthdate"),         # CCCD says born in 1985
    ({"--birthdate": "2030-01-01"}, "birthdate"),
    ({"--birthdate": "31/02/1985"}, "birthdate"),
    ({"--phone": "12345"}, "phone"),
    ({"--phone": "+1 202 555 0100"}, "phone"),
    ({"--name": "R2D2"}, "full_name"),
    ({"--name": "A" * 101}, "full_name"),
    ({"--commune": "99999"}, "commune_code"),
    ({"--gender": "male"}, "gender"),  # 4th digit 1 = female born in the 1900s
])
def test_create_refuses_bad_input_and_writes_nothing(app, tnid, change, field):
    args = list(GOOD)
    for option, value in change.items():
        if option in args:
            args[args.index(option) + 1] = value
        else:
            args += [option, value]
    result = tnid("citizens", "create", *args)
    assert result.exit_code != 0
    assert result.output.strip().splitlines()[-1].startswith(f"Error: {field}:")
    assert "Traceback" not in result.output
    assert citizen_count(app) == 0


def test_create_refuses_weak_or_personal_password(app, tnid):
    short = tnid("citizens", "create", *GOOD, "--password-stdin", input="ngắn\n")
    assert short.exit_code != 0 and "password" in short.output
    own_id = tnid("citizens", "create", *GOOD, "--password-stdin", input="019185000123\n")
    assert own_id.exit_code != 0
    assert citizen_count(app) == 0


def test_duplicate_cccd_or_phone_is_refused(app, tnid):
    assert tnid("citizens", "create", *GOOD).exit_code == 0
    same_cccd = list(GOOD)
    same_cccd[same_cccd.index("--phone") + 1] = "0911111111"
    assert tnid("citizens", "create", *same_cccd).exit_code != 0
    same_phone = list(GOOD)
    same_phone[same_phone.index("--cccd") + 1] = "019085000999"
    same_phone[same_phone.index("--phone") + 1] = "+84 987 654 321"
    result = tnid("citizens", "create", *same_phone)
    assert result.exit_code != 0 and "phone" in result.output
    assert citizen_count(app) == 1


def test_missing_option_is_a_usage_error(tnid):
    result = tnid("citizens", "create", "--cccd", "019085000123")
    assert result.exit_code == 2 and "Missing option" in result.output


def test_show_by_any_identifier_and_unknown(app, tnid, make_citizen):
    citizen = make_citizen()
    for key in (citizen.cccd, citizen.phone, "0" + citizen.phone[3:], str(citizen.id)):
        result = tnid("citizens", "show", key)
        assert result.exit_code == 0 and "Nguyễn Văn An" in result.output
    missing = tnid("citizens", "show", "019085999999")
    assert missing.exit_code == 1 and "No citizen" in missing.output


def test_list_filters(app, tnid, make_citizen):
    make_citizen()
    make_citizen(commune_code="05443", identity_level=2)
    everyone = json.loads(tnid("citizens", "list", "--json").output)
    assert len(everyone) == 2
    level2 = json.loads(tnid("citizens", "list", "--level", "2", "--json").output)
    assert [c["commune_code"] for c in level2] == ["05443"]
    sang_moc = tnid("citizens", "list", "--commune", "5719")
    assert sang_moc.exit_code == 0 and sang_moc.output.count("Nguyễn Văn An") == 1
    assert tnid("citizens", "list", "--limit", "0").exit_code == 2


def test_demo_seeds_a_citizen_who_can_sign_in(app, tnid, auth):
    first = tnid("demo")
    assert first.exit_code == 0, first.output
    assert "019085001234" in first.output and "thai-nguyen-demo-2025" in first.output
    assert tnid("demo").exit_code == 0  # idempotent
    assert citizen_count(app) == 2  # and one with two-step sign-in (test_cli_demo.py)
    assert auth.login("019085001234", "thai-nguyen-demo-2025").status_code == 302


def test_demo_is_refused_in_production(config, tnid):
    config.update({"TNID_ENV": "production", "TNID_ISSUER": "https://id.example.vn",
                   "TNID_ALLOW_SQLITE_IN_PRODUCTION": "1", "TNID_ARGON2_TIME_COST": "2",
                   "TNID_ARGON2_MEMORY_KIB": "19456"})
    result = tnid("demo")
    assert result.exit_code == 1 and "production" in result.output


def test_console_script_reports_bad_configuration_in_one_line(tmp_path: Path):
    tnid_script = Path(sys.executable).parent / "tnid"
    result = subprocess.run(
        [str(tnid_script), "init"], capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "TNID_ENV": "production",
             "TNID_ISSUER": "https://id.thainguyen.gov.vn",
             "TNID_DATABASE_URL": "postgresql+psycopg://tnid@/tnid",
             "TNID_INSTANCE_PATH": str(tmp_path)},
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "tnid: configuration error: TNID_SECRET_KEY is required in " \
                                    "production."
