"""Browser tests' helpers: the system's Chromium driven by Playwright's sync API (Playwright never downloads a
browser here), a fresh page per test, and evidence when a test fails.

    from tests.e2e.browser import connect

    def test_x(browser_page: Page) -> None:
        connect(browser_page, server_url, api_key)  # the UI remembers the key, as /#key=… does for a user
        browser_page.goto(f"{server_url}/evals")

The fixtures `browser` (one per test module) and `browser_page` (one per test) are registered by
`tests/e2e/conftest.py`. A failing test leaves `test-artifacts/<test>.png` (the whole page) and
`test-artifacts/<test>.console.txt` (the browser console and page errors).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, ViewportSize, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"]
VIEWPORT: ViewportSize = {"width": 1440, "height": 900}
UI_DIST = ROOT / "server" / "src" / "neon_server" / "ui" / "dist" / "index.html"


def chromium_path() -> str:
    """The installed Chromium (the tests never download one)."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("Chromium is not installed (apt-get install chromium): the browser tests need it")


def require_ui() -> None:
    """Fail with the fix when the SPA was not built (the server would answer its pages with 404)."""
    if not UI_DIST.exists():
        pytest.fail("the web UI is not built: run `make ui`")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Per module, not per session: Playwright's sync API keeps an event loop running on this thread while it
    # is open, and later tests that call asyncio.run (the Temporal ones) must not find one.
    with sync_playwright() as playwright:
        launched = _launch(playwright)
        yield launched
        launched.close()


def _launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)


@pytest.fixture
def browser_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A page in a fresh context (nothing stored: no keys); on failure its screenshot and console are saved."""
    require_ui()
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    page.set_default_timeout(10_000)
    try:
        yield page
    finally:
        reports = [getattr(request.node, f"rep_{when}", None) for when in ("setup", "call")]
        if any(report is not None and report.failed for report in reports):
            save_evidence(page, request.node.name, console)
        context.close()


def save_evidence(page: Page, test_name: str, console: list[str]) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
    try:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    except Exception as exc:  # evidence is best effort: the test's own failure is what counts
        console.append(f"(no screenshot: {exc})")
    (ARTIFACTS / f"{name}.console.txt").write_text("\n".join([f"url: {page.url}", *console]) + "\n")


def connect(page: Page, base_url: str, api_key: str) -> None:
    """Open the UI with a key, as the link `neon up` prints does; the browser keeps the key for the test."""
    page.goto(f"{base_url}/#key={api_key}")
    # connected when the UI shows the key's project as the current one (what a user sees), not on a URL change
    expect(page.get_by_label("Project")).to_have_value(re.compile("^prj_"))
