"""Browser tests: Playwright (Python) driving Debian's Chromium against a real server.

Chromium is /usr/bin/chromium (or ALLIANCE_CHROMIUM); Playwright never downloads a browser.
Without Chromium these tests are skipped on a laptop and fail in CI (CI=true), where
.ci/run installs it. Each test saves screenshots under test-output/screenshots/.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, require

CHROMIUM = os.environ.get("ALLIANCE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = ROOT / "test-output" / "screenshots"
# Flags for a root, headless, offline machine: no sandbox (root), and no background
# connections to Google's services, which this machine's closed network refuses.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

pytestmark = pytest.mark.browser


def require_chromium() -> None:
    """No browser: a failure in CI (CI=true), a skip on a developer's machine."""
    require(
        Path(CHROMIUM).is_file(),
        f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)",
    )


# Module scope, not session: Playwright's sync API keeps an event loop running while it is
# open, and later tests on the same worker (the click writer's asyncio.run) need none.
@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


class Shots:
    """Numbered screenshots of one test: test-output/screenshots/<test>/<n>-<name>.png."""

    def __init__(self, test_name: str) -> None:
        self.folder = SHOTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def take(self, page: object, name: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
        return path


@pytest.fixture()
def shots(request: pytest.FixtureRequest) -> Shots:
    return Shots(request.node.name)


@pytest.fixture()
def context(chromium: object) -> Iterator[object]:
    ctx = chromium.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


def watch(page: object) -> list[str]:
    """Collect console errors and CSP violations: a page that logs one fails its test."""
    problems: list[str] = []

    def on_console(message: object) -> None:
        text = message.text  # type: ignore[attr-defined]
        # A page answered 401/403/422 on purpose logs "Failed to load resource"; failed
        # sub-resources (scripts, styles, images) are caught by on_response below.
        if message.type == "error" and not text.startswith("Failed to load resource"):  # type: ignore[attr-defined]
            problems.append(text)

    def on_response(response: object) -> None:
        request = response.request  # type: ignore[attr-defined]
        if request.resource_type != "document" and response.status >= 400:  # type: ignore[attr-defined]
            problems.append(f"{response.status} {request.url}")  # type: ignore[attr-defined]

    page.on("console", on_console)  # type: ignore[attr-defined]
    page.on("response", on_response)  # type: ignore[attr-defined]
    page.on("pageerror", lambda e: problems.append(str(e)))  # type: ignore[attr-defined]

    def on_dialog(dialog: object) -> None:
        # Our own confirmations (form[data-confirm]) are accepted; any other dialog, such as
        # an alert() smuggled in through user data, is a failure.
        if dialog.type == "confirm":  # type: ignore[attr-defined]
            dialog.accept()  # type: ignore[attr-defined]
        else:
            problems.append(f"dialog: {dialog.message}")  # type: ignore[attr-defined]
            dialog.dismiss()  # type: ignore[attr-defined]

    page.on("dialog", on_dialog)  # type: ignore[attr-defined]
    return problems


# Checks every page of a journey passes: the basics of WCAG that a machine can see.
AUDIT_JS = """() => {
  const problems = [];
  if (!document.documentElement.lang) problems.push('html has no lang');
  const h1 = document.querySelectorAll('h1').length;
  if (h1 !== 1) problems.push(`${h1} h1 elements`);
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (el.type === 'hidden') continue;
    const named = (el.labels && el.labels.length) || el.getAttribute('aria-label')
      || el.getAttribute('aria-labelledby');
    if (!named) problems.push(`unlabelled ${el.tagName.toLowerCase()} ${el.name || el.id}`);
  }
  for (const img of document.querySelectorAll('img')) {
    if (!img.hasAttribute('alt')) problems.push(`img without alt: ${img.src.slice(0, 60)}`);
  }
  for (const b of document.querySelectorAll('button, a[href]')) {
    const name = (b.innerText || b.textContent || b.getAttribute('aria-label') || b.title || '')
      .trim();
    if (!name && !b.querySelector('img[alt]'))
      problems.push(`unnamed ${b.tagName.toLowerCase()} ${b.outerHTML.slice(0, 80)}`);
  }
  for (const svg of document.querySelectorAll('svg[role="img"]')) {
    if (!svg.querySelector('title')) problems.push('chart without title');
  }
  if (document.documentElement.scrollWidth > window.innerWidth + 1)
    problems.push(`page wider than the viewport: ${document.documentElement.scrollWidth}px`);
  return problems;
}"""


def audit(page: object) -> list[str]:
    return list(page.evaluate(AUDIT_JS))  # type: ignore[attr-defined]


def sign_in(page: object, base: str, email: str, password: str) -> None:
    page.goto(f"{base}/login")  # type: ignore[attr-defined]
    page.get_by_label("E-mail").fill(email)  # type: ignore[attr-defined]
    page.get_by_label("Password").fill(password)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Sign in").click()  # type: ignore[attr-defined]
    page.wait_for_load_state("domcontentloaded")  # type: ignore[attr-defined]
