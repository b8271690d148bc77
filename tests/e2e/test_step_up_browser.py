"""In headless Chromium: a citizen signs in, confirms it is her with a code sent by SMS to her
phone on record (a password alone never binds an authenticator), sets up an authenticator app
by typing the key the page shows (as someone without a camera would), then — after a new
password sign-in — an app that needs two factors asks her only for the app's code and
receives a code of its own."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlencode, urlsplit

import pyotp
import pytest

from tests.conftest import TEST_PASSWORD
from tests.support.oidc import REDIRECT, pkce, register
from tests.support.second_factor import code, last_sms_code

pytestmark = pytest.mark.e2e


def test_enrol_then_step_up_asks_only_for_the_code(app, live_server, new_page, make_citizen,
                                                   signing_keys):
    citizen = make_citizen()
    rp = register(app, min_acr="urn:tnid:acr:2", trusted=True)
    page = new_page(viewport={"width": 360, "height": 740})
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    # The app's callback never loads (no network): answer it here and keep its query.
    page.route(re.compile(r"^https://portal\.example\.vn/.*"),
               lambda route: route.fulfill(status=200, body="app"))

    page.goto(f"{live_server}/login")
    page.fill("#identifier", citizen.cccd)
    page.fill("#password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/")

    page.goto(f"{live_server}/account/security")
    page.click("a[href='/account/two-step/setup']")
    page.wait_for_url(re.compile(r".*/account/confirm-second-factor\?next=totp_setup$"))
    page.click("form[action*='confirm-second-factor/sms'] button[type=submit]")
    page.wait_for_selector("#code")
    page.fill("#code", last_sms_code(app))
    page.click("form[action*='method=sms'] button[type=submit]")
    page.wait_for_url(f"{live_server}/account/two-step/setup")
    assert page.locator("svg.qr-code").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    key = page.inner_text("#setup-key").replace(" ", "")
    page.fill("#code", pyotp.TOTP(key).now())
    page.click("form[action='/account/two-step/setup'] button[type=submit]")
    codes = page.locator("#recovery-codes li")
    codes.first.wait_for()
    assert codes.count() == 10

    # Next day (a new sign-in, password only): an app that requires two factors asks only
    # for the authenticator code.
    page.context.clear_cookies()
    page.goto(f"{live_server}/login")
    page.fill("#identifier", citizen.cccd)
    page.fill("#password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/")

    _, challenge = pkce()
    query = urlencode({"response_type": "code", "client_id": rp.client_id,
                       "redirect_uri": REDIRECT, "scope": "openid profile", "state": "s-1",
                       "nonce": "n-1", "code_challenge": challenge,
                       "code_challenge_method": "S256"})
    page.goto(f"{live_server}/authorize?{query}")
    page.wait_for_url(re.compile(r".*/login/second-factor.*"))
    assert page.locator("input[type=password]").count() == 0
    assert page.get_attribute("#code", "autocomplete") == "one-time-code"
    assert page.get_attribute("#code", "inputmode") == "numeric"
    page.fill("#code", code(key, steps=1))  # the next step's: the current one was used
    page.click("form[action*='second-factor'] button[type=submit]")
    page.wait_for_url(re.compile(r"^https://portal\.example\.vn/callback\?.*"))
    got = {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}
    assert "code" in got and got["state"] == "s-1"
    assert not [m for m in console if "Content Security Policy" in m]  # QR and pages fit CSP
