"""`tnid demo` also seeds a level-2 citizen with an authenticator app whose key it prints:
that key really signs her in with two factors."""

from __future__ import annotations

import re

import pyotp
from click.testing import CliRunner
from sqlalchemy import select

from idp.cli import cli
from idp.extensions import db
from idp.models import Citizen
from idp.services import totp
from tests.support.authorize import follow, go, submit
from tests.support.oidc import register


def run_demo(config) -> str:  # noqa: ANN001
    result = CliRunner().invoke(cli, ["demo"], env=config, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_demo_prints_a_working_authenticator_key(app, config, client, auth, signing_keys):
    output = run_demo(config)
    again = run_demo(config)  # idempotent, same key
    key = re.search(r"App key\s+([A-Z2-7 ]+?)\s+\(", output).group(1).replace(" ", "")
    assert key in again.replace(" ", "")
    assert "pyotp.TOTP" in output
    password = re.findall(r"Password\s+(\S+)", output)[1]
    cccd = re.findall(r"CCCD\s+(\d{12})", output)[1]
    with app.app_context():
        citizen = db.session.scalar(select(Citizen).where(Citizen.cccd == cccd))
        assert citizen.identity_level == 2 and totp.is_enabled(db.session, citizen.id)
    assert auth.login(cccd, password).status_code == 302
    rp = register(app, min_acr="urn:tnid:acr:2", trusted=True)
    page = follow(client, go(client, rp), rp)
    assert 'name="code"' in page.text
    answer = follow(client, submit(client, page, code=pyotp.TOTP(key).now()), rp)
    assert "code=" in answer.headers["Location"]


def test_demo_prints_working_staff_accounts(app, config, client):
    """The three demo staff: printed username, password and authenticator key sign in to the
    console (no enrolment: the key is already set up); an officer of Xã Sảng Mộc."""
    from tests.conftest import csrf_token

    output = run_demo(config)
    staff = re.findall(r"Username\s+(\S+)\n\s+Password\s+(\S+)\n\s+Staff key\s+([A-Z2-7 ]+?)\n",
                       output)
    assert [s[0] for s in staff] == ["admin", "canbo.sangmoc", "kiemtoan"]
    assert "/admin/login" in output and "Xã Sảng Mộc (05719)" in output
    assert run_demo(config).count("Staff key") == 3  # idempotent
    for username, password, key in staff:
        browser = app.test_client()
        page = browser.get("/admin/login")
        answer = browser.post("/admin/login", data={
            "csrf_token": csrf_token(page.text), "username": username, "password": password})
        assert answer.location.endswith("/admin/login/code"), username
        page = browser.get("/admin/login/code")
        answer = browser.post("/admin/login/code", data={
            "csrf_token": csrf_token(page.text),
            "code": pyotp.TOTP(key.replace(" ", "")).now()})
        assert answer.location.endswith("/admin/"), username
        home = browser.get("/admin/")
        assert home.status_code == 200 and username in home.text
        if username == "canbo.sangmoc":
            assert "Xã Sảng Mộc, Thái Nguyên (05719)" in home.text
