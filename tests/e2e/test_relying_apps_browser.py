"""In headless Chromium, the three example apps of clients_example/ against a live provider,
each served on its own loopback port and registered by its own start-up code:

sign in at the portal → the health records need no second sign-in (SSO) → the market asks
for consent to its own data only, never sees the CCCD, and gets another `sub` (pairwise) →
submitting a dossier at the portal asks only for the authenticator code (step-up) → signing
out at the market signs out all three apps (back-channel logout) and the provider asks for a
password again.

Every step is screenshotted; on failure the screenshots are copied to test-artifacts/ and
the failure message says where.
"""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pyotp
import pytest
from click.testing import CliRunner
from werkzeug.serving import make_server

from idp.cli import cli
from idp.cli.demo import DEMO_TOTP_CITIZEN, DEMO_TOTP_KEY, DEMO_TOTP_PASSWORD
from tests.e2e.conftest import ARTIFACTS
from tests.support.relying_apps import ServedApp, serve_app

pytestmark = pytest.mark.e2e

CCCD = DEMO_TOTP_CITIZEN.cccd


@pytest.fixture
def provider(app_factory, app, signing_keys, config) -> Iterator[str]:
    """The provider on a real port. Back-channel logout tokens are sent before the logout
    response (``inline``), so once the browser is back at the app every app has been told:
    the test waits on nothing it cannot see."""
    served = {}
    server = make_server("127.0.0.1", 0, lambda environ, start: served["app"](environ, start),
                         threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    served["app"] = app_factory(TNID_ISSUER=url, TNID_LOGOUT_DELIVERY="inline")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    seeded = CliRunner().invoke(cli, ["demo"], env={**config, "TNID_ISSUER": url},
                                catch_exceptions=False)
    assert seeded.exit_code == 0, seeded.output
    yield url
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def apps(provider, config, tmp_path) -> Iterator[dict[str, ServedApp]]:
    with ExitStack() as stack:
        yield {key: stack.enter_context(serve_app(key, issuer=provider,
                                                  instance=tmp_path / key,
                                                  provider_env=config))
               for key in ("portal", "health", "market")}


@contextmanager
def screenshots(page, request: pytest.FixtureRequest,  # noqa: ANN001
                tmp_path: Path) -> Iterator[Callable[[str], None]]:
    """``step(name)`` screenshots the page; on failure they go to test-artifacts/."""
    folder = tmp_path / "steps"
    folder.mkdir()
    taken = []

    def step(name: str) -> None:
        taken.append(name)
        page.screenshot(path=str(folder / f"{len(taken):02d}-{name}.png"), full_page=True)

    try:
        yield step
    except BaseException as error:
        backend = request.config.getoption("--db")
        target = ARTIFACTS / f"{request.node.name}-{backend}-steps"
        shutil.rmtree(target, ignore_errors=True)
        last = taken[-1] if taken else "none"
        try:
            step("failure")
        except Exception:  # noqa: BLE001 — the page may be gone; keep the others
            pass
        shutil.copytree(folder, target)
        raise AssertionError(f"{error}\n(failed after step {last!r}; screenshots of each "
                             f"step in {target})") from error


def sign_in_button(page, url: str) -> None:  # noqa: ANN001
    page.goto(f"{url}/")
    page.click("#login-button")


def test_sso_consent_pairwise_step_up_and_single_logout(provider, apps, new_page, request,
                                                        tmp_path):
    portal, health, market = apps["portal"], apps["health"], apps["market"]
    page = new_page()
    with screenshots(page, request, tmp_path) as step:
        # 1. Portal: password sign-in at the provider (one factor is enough for browsing).
        sign_in_button(page, portal.url)
        page.wait_for_url(re.compile(rf"^{re.escape(provider)}/login"))
        page.fill("#identifier", CCCD)
        page.fill("#password", DEMO_TOTP_PASSWORD)
        step("provider-login")
        page.click("button[type=submit]")
        page.wait_for_url(f"{portal.url}/")
        step("portal-signed-in")
        assert page.inner_text("#acr") == "urn:tnid:acr:1"
        portal_sub = page.inner_text("[data-claim=sub]")
        assert page.inner_text("[data-userinfo=cccd]") == CCCD

        # 2. Health records: single sign-on, no password; its own consent; records shown.
        sign_in_button(page, health.url)
        page.wait_for_url(re.compile(rf"^{re.escape(provider)}/"))
        page.wait_for_selector("#shared-data")
        assert page.locator("input[type=password]").count() == 0
        step("health-consent")
        page.click("button[value=allow]")
        page.wait_for_url(f"{health.url}/")
        step("health-records")
        assert page.inner_text("#record-cccd") == CCCD
        assert page.inner_text("[data-claim=sub]") == portal_sub  # public subject

        # 3. Market: consent lists only the market's data; no CCCD anywhere; pairwise sub.
        sign_in_button(page, market.url)
        page.wait_for_selector("#shared-data")
        assert page.locator("input[type=password]").count() == 0
        shared = page.inner_text("#shared-data")
        step("market-consent")
        assert "0987" in shared.replace(" ", "") or "+84987654321" in shared  # phone
        assert "CCCD" not in shared and CCCD not in shared
        assert "Commune" not in shared and "xã" not in shared.lower()  # no address either
        page.click("button[value=allow]")
        page.wait_for_url(f"{market.url}/")
        page.click("button[data-product=che-tan-cuong]")
        page.wait_for_selector("#checkout")
        step("market-cart")
        # The access token is refreshed with the refresh token (offline_access), and the new
        # one works at userinfo.
        page.click("#refresh-button")
        page.wait_for_selector("text=Đã làm mới access token")
        assert page.inner_text("#refresh-count") == "1"
        market_sub = page.inner_text("[data-claim=sub]")
        assert market_sub != portal_sub
        assert CCCD not in page.content()
        assert page.locator("[data-userinfo=cccd], [data-claim=cccd]").count() == 0

        # 4. Portal dossier: step-up to two factors asks only for the authenticator code.
        page.goto(f"{portal.url}/")
        page.click("a[data-service=ly-lich-tu-phap]")
        page.wait_for_url(re.compile(rf"^{re.escape(provider)}/login/second-factor"))
        assert page.locator("input[type=password]").count() == 0
        step("portal-step-up")
        page.fill("#code", pyotp.TOTP(DEMO_TOTP_KEY).now())
        page.click("form[action*='second-factor'] button[type=submit]")
        page.wait_for_url(re.compile(rf"^{re.escape(portal.url)}/dossier/new"))
        assert page.inner_text("#acr") == "urn:tnid:acr:2"
        assert page.input_value("#cccd") == CCCD
        assert page.input_value("#name") == DEMO_TOTP_CITIZEN.full_name
        step("portal-dossier-form")
        page.click("#submit-dossier")
        page.wait_for_selector("#dossier-code")
        step("portal-dossier-submitted")

        # 5. Sign out at the market: every app's session ends (back-channel), and the provider
        # asks for a password again.
        page.goto(f"{market.url}/")
        page.click("#logout-button")
        page.wait_for_url(f"{market.url}/")
        page.wait_for_selector("#login-button")
        step("market-signed-out")
        for app in (portal, health, market):
            page.goto(f"{app.url}/")
            assert page.locator("#login-button").is_visible(), app.key
            assert page.locator("#signed-in-as").count() == 0, app.key
        step("all-signed-out")
        page.click("#login-button")
        page.wait_for_url(re.compile(rf"^{re.escape(provider)}/login"))
        assert page.locator("#password").is_visible()
        step("provider-asks-password")
