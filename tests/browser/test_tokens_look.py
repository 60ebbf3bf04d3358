"""The API tokens page in Chromium at 1280 px and 390 px: axe-core, no sideways scroll.

Issue 15 asks for every app page to be checked by a machine; the token page came
with the REST API after that check was written. Screenshots are saved as
``artifacts/screenshots/tokens-<state>-<width>.png``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from knox.models import AuthToken
from playwright.sync_api import Browser, Page, expect

from tests.browser.checks import assert_accessible, shot
from tests.browser.conftest import DESKTOP, PHONE
from tests.factories import signed_in_page

pytestmark = pytest.mark.browser

VIEWPORTS = {"1280": DESKTOP, "390": PHONE}


@pytest.fixture(params=sorted(VIEWPORTS))
def width(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def tokens_page(browser: Browser, live_server, editor: User, width: str) -> Iterator[Page]:
    yield from signed_in_page(browser, live_server.url, editor, viewport=VIEWPORTS[width])


def check(page: Page, state: str, width: str) -> None:
    """Screenshot, axe-core and no horizontal scrolling."""
    shot(page, f"tokens-{state}-{width}")
    assert_accessible(page, f"API tokens {state} at {width} px")
    assert page.evaluate("document.documentElement.scrollWidth") <= int(width)


def test_token_page_creates_shows_once_and_passes_axe(
    tokens_page: Page, editor: User, width: str
) -> None:
    page = tokens_page
    page.goto("/accounts/api-tokens/")
    expect(page.get_by_role("heading", name="API tokens", level=1)).to_be_visible()
    check(page, "empty", width)

    page.get_by_label("What uses it").fill("Nightly review export")
    page.get_by_role("button", name="Create token").click()

    shown = page.get_by_label("New API token")
    expect(shown).to_be_visible()
    token = shown.input_value()
    [stored] = AuthToken.objects.filter(user=editor)
    assert token.startswith(stored.token_key)
    expect(page.locator("tbody tr")).to_have_count(1)
    check(page, "created", width)

    # Shown once: the next visit lists the token by its prefix only.
    page.goto("/accounts/api-tokens/")
    expect(page.locator("tbody tr")).to_have_count(1)
    assert token not in page.content()
    check(page, "listed", width)
