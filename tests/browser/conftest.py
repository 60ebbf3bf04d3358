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
from django.contrib.auth.models import Permission, User
from django.test import Client

# Playwright's sync API runs an event loop in the test thread; Django's ORM
# calls made by the test itself (fixtures, assertions) are still synchronous.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, sync_playwright

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
    user = User.objects.create_user("erin")  # signs in by session cookie: no password needed
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="connections",
            codename__in=[
                "view_connection",
                "add_connection",
                "change_connection",
                "delete_connection",
            ],
        )
    )
    return user


def _signed_in_context(
    browser: Browser, live_server, user: User, *, viewport, java_script: bool = True
) -> BrowserContext:
    client = Client()
    client.force_login(user)
    context = browser.new_context(
        viewport=viewport, java_script_enabled=java_script, base_url=live_server.url
    )
    context.add_cookies(
        [
            {
                "name": "sessionid",
                "value": client.cookies["sessionid"].value,
                "url": live_server.url,
            }
        ]
    )
    context.set_default_timeout(5000)
    return context


@pytest.fixture
def page(browser: Browser, live_server, editor: User) -> Iterator[Page]:
    """Return a desktop page signed in as ``editor``, JavaScript on."""
    context = _signed_in_context(browser, live_server, editor, viewport=DESKTOP)
    yield context.new_page()
    context.close()


@pytest.fixture
def phone_page(browser: Browser, live_server, editor: User) -> Iterator[Page]:
    """Return a 390 px wide page signed in as ``editor``."""
    context = _signed_in_context(browser, live_server, editor, viewport=PHONE)
    yield context.new_page()
    context.close()


@pytest.fixture
def no_js_page(browser: Browser, live_server, editor: User) -> Iterator[Page]:
    """Return a desktop page signed in as ``editor`` with JavaScript disabled."""
    context = _signed_in_context(browser, live_server, editor, viewport=DESKTOP, java_script=False)
    yield context.new_page()
    context.close()
