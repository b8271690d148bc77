"""QR sign-in in real Chromium with two devices: a desktop context that shows the changing
code and a phone context that is signed in, opens the code's URL (as a camera app would) and
picks the matching number; the desktop then signs in by itself, without a reload."""

from __future__ import annotations

import pytest

from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.e2e

PHONE = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True,
         "user_agent": "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) "
                       "Chrome/131.0.0.0 Mobile Safari/537.36"}


def sign_in_with_password(page, live_server: str, cccd: str) -> None:  # noqa: ANN001
    page.goto(f"{live_server}/login")
    page.fill("#identifier", cccd)
    page.fill("#password", TEST_PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(f"{live_server}/")


def test_phone_approves_and_the_desktop_signs_in_by_itself(live_server, new_page, make_citizen):
    citizen = make_citizen()
    phone = new_page(**PHONE)
    sign_in_with_password(phone, live_server, citizen.cccd)

    desktop = new_page(viewport={"width": 1280, "height": 900})
    desktop.goto(f"{live_server}/login")
    desktop.click("#qr-sign-in")
    desktop.wait_for_url(f"{live_server}/qr")
    marks = []
    desktop.on("framenavigated", lambda frame: marks.append(frame.url)
               if frame == desktop.main_frame else None)
    # The script shows the code and keeps swapping it; the picture's URL is kept on the image.
    desktop.wait_for_selector("#qr-image[data-qr-url^='http']")
    assert desktop.is_visible("#qr-image")
    first = desktop.get_attribute("#qr-image", "data-qr-url")
    desktop.wait_for_function(
        "first => document.getElementById('qr-image').dataset.qrUrl !== first", arg=first)
    code_url = desktop.get_attribute("#qr-image", "data-qr-url")
    assert code_url.startswith(f"{live_server}/qr/a?") and code_url != first
    number = desktop.inner_text("#qr-number")

    phone.goto(code_url)
    assert "Không bao giờ quét mã QR do người khác gửi cho bạn" in phone.inner_text("main")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    desktop.wait_for_function(
        "() => document.getElementById('qr-status').textContent.includes('Đã quét mã')")
    phone.click(f"button[name=number][value='{number}']")
    phone.wait_for_selector("#qr-result")
    assert "Đã đồng ý đăng nhập" in phone.inner_text("h1")

    desktop.wait_for_url(f"{live_server}/")  # no reload, no click: the page moved by itself
    assert desktop.inner_text("#full-name") == "Nguyễn Văn An"
    assert marks == [f"{live_server}/"]  # one navigation: the completion, nothing before


def test_wrong_number_ends_the_request_on_both_screens(live_server, new_page, make_citizen):
    citizen = make_citizen()
    phone = new_page(**PHONE)
    sign_in_with_password(phone, live_server, citizen.cccd)
    desktop = new_page()
    desktop.goto(f"{live_server}/login")
    desktop.click("#qr-sign-in")
    desktop.wait_for_selector("#qr-image[data-qr-url^='http']")
    number = desktop.inner_text("#qr-number")
    phone.goto(desktop.get_attribute("#qr-image", "data-qr-url"))
    wrong = phone.locator(f"button[name=number]:not([value='{number}'])").first
    wrong.click()
    phone.wait_for_selector("#qr-result")
    assert "Số bạn chọn không khớp" in phone.inner_text("#qr-result")
    desktop.wait_for_selector("#qr-restart-form:not([hidden])")
    assert "từ chối" in desktop.inner_text("#qr-status")
    assert not desktop.is_visible("#qr-image")
    assert desktop.url == f"{live_server}/qr"


def test_without_javascript_no_code_is_shown(live_server, new_page):
    desktop = new_page(java_script_enabled=False)
    desktop.goto(f"{live_server}/login")
    desktop.click("#qr-sign-in")
    desktop.wait_for_url(f"{live_server}/qr")
    assert not desktop.is_visible("#qr-image")
    assert "cần JavaScript" in desktop.inner_text("main")
