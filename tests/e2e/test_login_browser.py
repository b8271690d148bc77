"""A citizen signs in through the real page in headless Chromium, by CCCD and by phone."""

from __future__ import annotations

import pytest

from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("identifier", ["cccd", "phone"])
def test_citizen_signs_in_and_out_in_a_real_browser(live_server, new_page, make_citizen,
                                                    identifier):
    citizen = make_citizen()
    typed = citizen.cccd if identifier == "cccd" else "0" + citizen.phone[3:]
    page = new_page(viewport={"width": 360, "height": 740})  # a small phone
    page.goto(f"{live_server}/")
    assert page.url == f"{live_server}/login"
    assert page.locator("html").get_attribute("lang") == "vi"
    assert page.get_attribute("#identifier", "autocomplete") == "username"
    assert page.get_attribute("#password", "autocomplete") == "current-password"

    page.fill("#identifier", typed)
    page.fill("#password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/")
    assert page.inner_text("#full-name") == "Nguyễn Văn An"
    # Readable on a small phone: nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 360

    page.click("form[action='/logout'] button")
    page.wait_for_url(f"{live_server}/login")
    page.goto(f"{live_server}/")
    assert page.url == f"{live_server}/login"


def test_wrong_password_shows_one_generic_message(live_server, new_page, make_citizen):
    citizen = make_citizen()
    page = new_page()
    page.goto(f"{live_server}/login")
    page.fill("#identifier", citizen.cccd)
    page.fill("#password", "definitely not it")
    page.click("button[type=submit]")
    error = page.locator("#login-error")
    error.wait_for()
    assert "CCCD" in error.inner_text()
    assert page.input_value("#password") == ""  # never echoed back


def test_language_switch_to_english(live_server, new_page):
    page = new_page()
    page.goto(f"{live_server}/login")
    page.click("a[hreflang=en]")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").inner_text() == "Sign in to ThaiNguyen ID"
    page.goto(f"{live_server}/login")  # remembered
    assert page.locator("html").get_attribute("lang") == "en"
