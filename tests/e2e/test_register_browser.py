"""A citizen creates an account in headless Chromium: details, the code read from
/dev/outbox (as a developer or a community tech team trying the demo would), password."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.e2e

PASSWORD = "Nhà tôi ở xóm Chè 2025"


def test_citizen_registers_and_lands_signed_in(live_server, new_page):
    page = new_page(viewport={"width": 360, "height": 740})  # a small phone
    page.goto(f"{live_server}/login")
    page.click("#signup")
    page.wait_for_url(f"{live_server}/signup")
    assert page.locator("h1").inner_text() == "Đăng ký tài khoản ThaiNguyen ID"

    page.fill("#cccd", "019185000123")
    page.fill("#full_name", "Trần Thị Bình")
    page.fill("#birthdate", "1985-06-01")  # a real date picker
    page.fill("#phone", "0987 654 321")
    page.select_option("#commune_code", "05719")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/signup/verify")
    assert "098****321" in page.inner_text("main")
    assert page.get_attribute("#code", "autocomplete") == "one-time-code"

    outbox = page.context.new_page()  # another tab of the same browser
    outbox.goto(f"{live_server}/dev/outbox")
    body = outbox.locator(".outbox-message[data-recipient='+84987654321'] .outbox-body").first
    code = re.search(r"ID: (\d{6}) ", body.inner_text()).group(1)
    outbox.close()

    page.fill("#code", code)
    page.click("form[action='/signup/verify'] button[type=submit]")
    page.wait_for_url(f"{live_server}/signup/password")

    hint = page.locator("#password-hint")
    page.fill("#password", "abc")
    assert hint.inner_text() == "Cần thêm 5 ký tự."  # the static script, in Vietnamese
    page.fill("#password", "matkhau123")
    page.fill("#confirm", "matkhau123")
    page.click("button[type=submit]")
    assert "quá phổ biến" in page.locator(".field-error").inner_text()  # said by the server

    page.fill("#password", PASSWORD)
    page.fill("#confirm", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/")
    assert page.inner_text("#full-name") == "Trần Thị Bình"
    assert "Mức 1 (tự đăng ký)" in page.inner_text("main")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
