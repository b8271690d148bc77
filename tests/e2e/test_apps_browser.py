"""A province administrator registers a relying app in headless Chromium: the form, the
secret shown once, the app page with its usage chart, disabling it with a reason; no CSP
violation, script error or missing file on the way."""

from __future__ import annotations

import os

import pyotp
import pytest

from idp.extensions import db
from idp.models import StaffAccount, StaffRole
from idp.web import deps
from tests.functional.admin.conftest import STAFF_PASSWORD

pytestmark = pytest.mark.e2e
SHOTS = os.environ.get("TNID_APPS_SCREENSHOTS")  # a folder to keep screenshots in, optional


@pytest.fixture
def superadmin(app) -> StaffAccount:  # noqa: ANN001
    with app.app_context():
        staff = StaffAccount(username="quantri.tinh", display_name="Quản trị tỉnh",
                             role=StaffRole.SUPERADMIN,
                             password_hash=deps.passwords().hash(STAFF_PASSWORD))
        db.session.add(staff)
        db.session.commit()
        db.session.refresh(staff)
        db.session.expunge(staff)
        return staff


def shot(page, name: str) -> None:  # noqa: ANN001
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


def test_register_an_app_and_disable_it(live_server, new_page, superadmin):
    page = new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    # Refused forms answer 400 by design and the browser's favicon request may 404: those
    # "failed to load resource" lines are not script or CSP errors (404s are checked below).
    page.on("console", lambda message: errors.append(message.text)
            if message.type == "error" and "server responded with a status" not in message.text
            else None)
    missing: list[str] = []
    page.on("response", lambda response: missing.append(response.url)
            if response.status == 404 and not response.url.endswith("/favicon.ico") else None)
    page.goto(f"{live_server}/admin/apps")
    page.fill("#username", superadmin.username)
    page.fill("#password", STAFF_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server}/admin/login/enrol")
    key = page.inner_text("#setup-key").replace(" ", "")
    page.fill("#code", pyotp.TOTP(key).now())
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server}/admin/apps")
    assert "Chưa có ứng dụng nào" in page.inner_text("main")

    page.click("text=Đăng ký ứng dụng")
    page.wait_for_url(f"{live_server}/admin/apps/new")
    page.fill("#name_vi", "Sổ sức khỏe điện tử")
    page.fill("#name_en", "Health records")
    page.fill("#redirect_uris", "https://soyte.thainguyen.gov.vn/callback")
    page.check("input[name=scopes][value=profile]")
    page.check("input[name=scopes][value=citizen]")
    page.select_option("#min_acr", "urn:tnid:acr:2")
    shot(page, "apps-form")
    page.click("main button[type=submit]")  # no reason: explained, nothing saved
    assert "Vui lòng nêu lý do" in page.inner_text("main")
    page.fill("#reason", "Sở Y tế đề nghị, công văn số 45")
    page.click("main button[type=submit]")
    secret = page.inner_text("#client-secret")
    assert len(secret) >= 40
    shot(page, "apps-secret")

    page.click("text=Tôi đã sao chép")
    assert "Sổ sức khỏe điện tử" in page.inner_text("h1")
    assert secret not in page.content()
    assert page.locator("svg.chart #chart-app-tokens-t").count() == 1
    shot(page, "apps-detail")
    page.fill("#reason-disable", "Ứng dụng ngừng hoạt động để bảo trì")
    page.click("form[action$='/disable'] button")
    assert "Đã vô hiệu hóa" in page.inner_text("main")
    page.goto(f"{live_server}/admin/apps")
    assert "Sổ sức khỏe điện tử" in page.inner_text("table")
    shot(page, "apps-list")
    assert not errors and not missing  # no CSP violation, script error or missing file
