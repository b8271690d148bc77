"""A new staff member's first sign-in in headless Chromium: password, then the forced set-up
of an authenticator app (QR code drawn on the server, key typed from the page), then the
console's landing page; signing out of the console."""

from __future__ import annotations

import pyotp
import pytest

from idp.extensions import db
from idp.models import StaffAccount, StaffCommune, StaffRole
from idp.web import deps
from tests.functional.admin.conftest import SANG_MOC, STAFF_PASSWORD

pytestmark = pytest.mark.e2e


@pytest.fixture
def officer(app) -> StaffAccount:  # noqa: ANN001
    """A new officer of Xã Sảng Mộc, never signed in (no authenticator app yet)."""
    with app.app_context():
        staff = StaffAccount(username="canbo.moi", display_name="Cán bộ mới",
                             role=StaffRole.OFFICER,
                             password_hash=deps.passwords().hash(STAFF_PASSWORD),
                             communes=[StaffCommune(commune_code=SANG_MOC)])
        db.session.add(staff)
        db.session.commit()
        db.session.refresh(staff)
        db.session.expunge(staff)
        return staff


def test_first_sign_in_forces_totp_enrolment(live_server, new_page, officer):
    staff = officer
    page = new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text)
            if message.type == "error" and "404" not in message.text else None)
    missing: list[str] = []  # the browser's own favicon request is not the page's
    page.on("response", lambda response: missing.append(response.url)
            if response.status == 404 and not response.url.endswith("/favicon.ico") else None)
    page.goto(f"{live_server}/admin/")
    assert page.url.startswith(f"{live_server}/admin/login")
    assert page.get_attribute("#username", "autocomplete") == "username"
    assert page.get_attribute("#password", "autocomplete") == "current-password"
    page.fill("#username", staff.username)
    page.fill("#password", STAFF_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server}/admin/login/enrol")

    assert page.locator("svg.qr-code").is_visible()
    key = page.inner_text("#setup-key").replace(" ", "")
    assert len(key) == 32
    assert page.get_attribute("#code", "autocomplete") == "one-time-code"
    assert page.get_attribute("#code", "inputmode") == "numeric"
    page.fill("#code", pyotp.TOTP(key).now())
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server}/admin/")
    assert staff.username in page.inner_text("#who")
    assert "Xã Sảng Mộc" in page.inner_text("#who")
    assert not errors and not missing  # no CSP violation, script error or missing file

    page.click("form.admin-logout button")
    page.wait_for_url(f"{live_server}/admin/login")
    page.goto(f"{live_server}/admin/")
    assert page.url.startswith(f"{live_server}/admin/login")
