"""Real headless Chromium (Debian's package) driven by Playwright against a live server.

Nothing here skips: a missing browser fails the run with the command that installs it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# Without these Chromium keeps trying to reach Google's hosts from a machine with no network.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is not installed: run `make test` as root or "
                    "`sudo apt-get install chromium`.", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # noqa: ANN201
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


FAILED = pytest.StashKey[bool]()


@pytest.fixture
def new_page(browser, request: pytest.FixtureRequest):  # noqa: ANN001, ANN201
    """Open pages in fresh browser contexts (one per device); screenshot each on failure."""
    contexts = []

    def open_page(locale: str = "vi-VN", **options: object):  # noqa: ANN202
        context = browser.new_context(locale=locale, **options)
        contexts.append(context)
        return context.new_page()

    yield open_page
    if request.node.stash.get(FAILED, False):
        ARTIFACTS.mkdir(exist_ok=True)
        backend = request.config.getoption("--db")
        for n, context in enumerate(contexts):
            for m, page in enumerate(context.pages):
                name = f"{request.node.name}-{backend}-{n}-{m}.png".replace("/", "_")
                page.screenshot(path=str(ARTIFACTS / name), full_page=True)
    for context in contexts:
        context.close()
