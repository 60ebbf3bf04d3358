"""Playwright (sync API) driving Debian's Chromium against pytest-django's live server.

Screenshots go to ``artifacts/screenshots/`` (git-ignored). Users sign in through
a session cookie made by Django's test client, so no test depends on the login
form's rate limiting.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User

# Playwright's sync API runs an event loop in the test thread; Django's ORM
# calls made by the test itself (fixtures, assertions) are still synchronous.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

from tests.factories import CONNECTION_ACTIONS, make_user, signed_in_page

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture
def editor(transactional_db) -> User:
    """Return a user who may view, add, change and delete connections (not a superuser)."""
    return make_user("erin", *CONNECTION_ACTIONS)


@pytest.fixture
def page(browser: Browser, live_server, editor: User) -> Iterator[Page]:
    """Return a desktop page signed in as ``editor``, JavaScript on."""
    yield from signed_in_page(browser, live_server.url, editor, viewport=DESKTOP)


@pytest.fixture
def phone_page(browser: Browser, live_server, editor: User) -> Iterator[Page]:
    """Return a 390 px wide page signed in as ``editor``."""
    yield from signed_in_page(browser, live_server.url, editor, viewport=PHONE)


@pytest.fixture
def no_js_page(browser: Browser, live_server, editor: User) -> Iterator[Page]:
    """Return a desktop page signed in as ``editor`` with JavaScript disabled."""
    yield from signed_in_page(browser, live_server.url, editor, viewport=DESKTOP, java_script=False)
