"""Issue 15 in Chromium, at 1280 px and at 390 px: what a new user sees on every app page.

Each page is checked by axe-core (no serious or critical violation) and saved as
a full-page screenshot under artifacts/screenshots/ (``look-<page>-<width>``).
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, Page, expect

from connections.models import Connection
from tests.browser.checks import assert_accessible, assert_focus_rings_visible, shot
from tests.browser.conftest import DESKTOP, PHONE

pytestmark = pytest.mark.browser

MERCHANT = "Merchant — reviews (stores), customers and groups"
STOREFRONT = "Storefront — reviews per store, product or group"
WHERE = "Settings › Integrations › Credentials"  # noqa: RUF001
VIEWPORTS = {"1280": DESKTOP, "390": PHONE}


def _field(page: Page, label: str):
    return page.get_by_role("textbox", name=label, exact=True)


def _check(page: Page, name: str, width: str) -> None:
    """Screenshot, axe-core and no horizontal scrolling: what every page gets."""
    shot(page, f"look-{name}-{width}")
    assert_accessible(page, f"{name} at {width} px")
    assert page.evaluate("document.documentElement.scrollWidth") <= int(width)


def _focused(page: Page) -> dict:
    return page.evaluate(
        "() => { const e = document.activeElement;"
        " return {id: e.id, outcome: e.dataset.outcome || '', cls: e.className}; }"
    )


@pytest.fixture(params=list(VIEWPORTS))
def width(request) -> str:
    return request.param


@pytest.fixture
def app_page(browser: Browser, live_server, editor: User, width: str):
    from tests.factories import signed_in_page

    yield from signed_in_page(browser, live_server.url, editor, viewport=VIEWPORTS[width])


def test_every_app_page_from_empty_list_to_delete(app_page: Page, okendo, width: str) -> None:
    page = app_page
    page.goto("/connections/")
    expect(page.get_by_role("heading", name="No connections yet")).to_be_visible()
    _check(page, "list-empty", width)

    # Create, Merchant: the callout says where the credentials are, once.
    page.goto("/connections/new/")
    expect(page.locator("#test-progress")).to_be_hidden()
    assert page.locator("main").inner_text().count(WHERE) == 1
    help_text = page.locator("#id_user_id_helptext").inner_text()
    assert "Settings" not in help_text
    if width == "1280":
        # Side by side, the two cards' descriptions start level.
        tops = page.locator(".choice__description").evaluate_all(
            "els => els.map(e => e.getBoundingClientRect().top)"
        )
        assert len(tops) == 2
        assert abs(tops[0] - tops[1]) < 1
    _check(page, "create-merchant", width)
    rings = assert_focus_rings_visible(page, stops=30)
    assert any("api_type" in ring.what for ring in rings), rings  # the selected type card

    # Storefront.
    page.get_by_label(STOREFRONT).check()
    expect(_field(page, "Username")).to_be_visible()
    assert page.locator("main").inner_text().count(WHERE) == 1
    _check(page, "create-storefront", width)

    # A failed submit: focus on the error summary; the re-entry notice where errors sit.
    _field(page, "Name").fill("EU store reviews")
    _field(page, "Username").fill("not-a-uuid")
    _field(page, "Password").fill("pw_test_NOT_A_REAL_PASSWORD_0001")
    page.get_by_role("button", name="Create connection").click()
    expect(page.locator("#error-summary")).to_be_focused()
    assert page.locator("main").inner_text().count(WHERE) == 1
    notice = page.locator("#id_password_helptext .field__notice")
    expect(notice).to_have_text(re.compile("^Re-enter the Password"))
    # Last in the field's messages, below its help, as an error would be.
    assert notice.evaluate("n => n === n.parentElement.lastElementChild")
    _check(page, "create-storefront-errors", width)

    # Back to Merchant; with an error there too.
    page.get_by_label(MERCHANT).check()
    expect(_field(page, "User ID")).to_be_visible()
    page.get_by_role("button", name="Create connection").click()
    expect(page.locator("#error-summary")).to_be_focused()
    _check(page, "create-merchant-errors", width)

    # Test the typed values: the result is focused and announced.
    _field(page, "User ID").fill(okendo.user_id)
    _field(page, "API key").fill(okendo.api_key)
    page.get_by_role("button", name="Test connection").click()
    result = page.locator("#test-result [data-outcome]")
    expect(result).to_have_attribute("data-outcome", "ok", timeout=10_000)
    expect(result).to_be_focused()
    expect(page.locator("#test-result")).to_have_attribute("role", "status")
    expect(page.locator("#test-progress")).to_be_hidden()
    _check(page, "create-tested", width)

    page.get_by_role("button", name="Create connection").click()
    expect(page.get_by_role("heading", name="EU store reviews", level=1)).to_be_visible()
    _check(page, "detail", width)

    # Test, Edit and Delete: one row, evenly.
    buttons = [
        page.get_by_role("button", name="Test", exact=True),
        page.get_by_role("link", name="Edit", exact=True),
        page.get_by_role("link", name="Delete", exact=True),
    ]
    boxes = [box for button in buttons if (box := button.bounding_box()) is not None]
    assert len(boxes) == 3
    assert len({round(box["y"]) for box in boxes}) == 1, boxes
    if width == "390":
        widths = [box["width"] for box in boxes]
        assert max(widths) - min(widths) < 2, widths

    # The detail page's test: the result once, in the status card, focused and announced.
    buttons[0].click()
    summary = page.locator("#health-summary")
    expect(summary).to_have_attribute("data-outcome", "ok", timeout=10_000)
    expect(summary).to_be_focused()
    expect(page.locator("#test-result")).to_have_attribute("role", "status")
    expect(page.locator("[data-outcome]")).to_have_count(1)
    expect(page.locator("main .alert")).to_have_count(0)
    expect(page.get_by_text("Okendo accepted this User ID and API key")).to_have_count(1)
    expect(page.locator("#test-progress")).to_be_hidden()
    _check(page, "detail-tested", width)

    page.get_by_role("link", name="Edit", exact=True).click()
    expect(_field(page, "API key")).to_have_value("")
    _check(page, "edit", width)

    page.goto(f"/connections/{Connection.objects.get().pk}/delete/")
    _check(page, "delete-confirm", width)

    page.goto("/connections/")
    expect(page.locator("tbody tr")).to_have_count(1)
    _check(page, "list", width)


def test_without_javascript_the_progress_line_stays_hidden(no_js_page: Page, okendo, editor):
    from tests.factories import create_connection

    page = no_js_page
    connection = create_connection(
        editor, name="No script shop", account_id=okendo.user_id, secret=okendo.api_key
    )
    page.goto(f"/connections/{connection.pk}/")
    expect(page.locator("#test-progress")).to_be_hidden()
    page.get_by_role("button", name="Test", exact=True).click()
    expect(page.locator("#health-summary")).to_have_attribute("data-outcome", "ok")
    expect(page.locator("#health-summary")).to_be_focused()  # autofocus on the page load
    expect(page.locator("[data-outcome]")).to_have_count(1)
    expect(page.locator("#test-progress")).to_be_hidden()
    shot(page, "look-detail-tested-nojs-1280")

    page.goto("/connections/new/")
    expect(page.locator("#test-progress")).to_be_hidden()


@pytest.mark.parametrize("width", list(VIEWPORTS))
def test_sign_in_and_lock_out_pages(browser: Browser, live_server, width: str) -> None:
    context = browser.new_context(viewport=VIEWPORTS[width], base_url=live_server.url)
    context.set_default_timeout(5000)
    page = context.new_page()
    try:
        page.goto("/connections/")
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        _check(page, "login", width)

        for _ in range(4):
            page.get_by_label("Username").fill("nobody")
            page.get_by_label("Password").fill("not the password")
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("alert")).to_be_visible()
        # The error box keeps its distance from the label below it.
        alert = page.get_by_role("alert").bounding_box()
        label = page.locator("label[for=id_username]").bounding_box()
        assert alert is not None
        assert label is not None
        assert label["y"] - (alert["y"] + alert["height"]) >= 12
        _check(page, "login-error", width)
        assert_focus_rings_visible(page)

        page.get_by_label("Username").fill("nobody")
        page.get_by_label("Password").fill("not the password")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Sign-in paused")).to_be_visible()
        _check(page, "locked-out", width)
    finally:
        context.close()
