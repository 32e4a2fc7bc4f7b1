"""Playwright on Debian's chromium against Django's live server."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in the test thread; Django's ORM refuses to
# run in a thread with an event loop unless told that this is intended (it is: tests).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ROOT = Path(__file__).resolve().parents[2]
# Every browser test saves what it saw under var/screenshots/ (ignored by git), so a test
# run leaves the working tree as it found it. `make screenshots` writes them to
# docs/screenshots/ instead, the pictures the documentation shows.
SCREENSHOTS = Path(os.environ.get("ANAGEN_SCREENSHOT_DIR") or ROOT / "var" / "screenshots")


def chromium_path() -> str:
    path = os.environ.get("ANAGEN_CHROMIUM") or shutil.which("chromium")
    if not path:
        pytest.fail("Debian chromium is not installed: `make test` installs it (as root)")
    return path


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium_path(),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(15000)
    errors: list[str] = []
    # Script errors only: a 400 answer to a form with field errors is expected.
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.console_errors = errors
    yield page
    context.close()


@pytest.fixture
def screenshot():
    def take(page, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        # Chromium restores the scroll position after Playwright's full_page capture only
        # on the next input event, so a click right after can land elsewhere. Grow the
        # viewport to the page instead, capture, and put it back.
        viewport = page.viewport_size
        height = page.evaluate("document.documentElement.scrollHeight")
        page.set_viewport_size({"width": viewport["width"], "height": max(height, 1)})
        page.screenshot(path=str(path))
        page.set_viewport_size(viewport)
        return path

    return take


def sign_in(page, username: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
