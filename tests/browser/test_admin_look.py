"""Issue 15 in the admin, at 1280 px and 390 px: the same product, a list that fits, axe-core.

Screenshots: artifacts/screenshots/look-admin-<page>-<width>.png.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, Page, expect

from connections.models import Connection
from tests.browser.checks import assert_accessible, assert_focus_rings_visible, shot
from tests.browser.conftest import DESKTOP, PHONE
from tests.factories import (
    API_KEY,
    CONNECTION_ACTIONS,
    PASSWORD,
    STORE_ID,
    USER_ID,
    create_connection,
    make_user,
    signed_in_page,
)

pytestmark = pytest.mark.browser

VIEWPORTS = {"1280": DESKTOP, "390": PHONE}
LONG_NAME = "Reviews for the European flagship store and its seasonal pop-up shops, synced nightly"
APP_DATE = re.compile(r"\b\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2}\b")
LIST = "/admin/connections/connection/"


@pytest.fixture(params=list(VIEWPORTS))
def width(request) -> str:
    return request.param


@pytest.fixture
def operator(transactional_db) -> User:
    return make_user("opal", *CONNECTION_ACTIONS, is_staff=True)


@pytest.fixture
def admin_page(browser: Browser, live_server, operator: User, width: str) -> Iterator[Page]:
    yield from signed_in_page(browser, live_server.url, operator, viewport=VIEWPORTS[width])


def _check(page: Page, name: str, width: str) -> None:
    shot(page, f"look-admin-{name}-{width}")
    assert_accessible(page, f"admin {name} at {width} px")
    content = page.locator("#content").inner_text()
    assert not re.search(r"\bNone\b", content), "an empty value shown as None"


def _fits_uuid(page: Page, selector: str) -> None:
    field = page.locator(selector)
    field.fill(USER_ID)
    assert field.evaluate("e => e.scrollWidth <= e.clientWidth"), "the UUID is cut off"


def test_admin_connection_pages(admin_page: Page, operator: User, width: str) -> None:
    page = admin_page
    merchant = create_connection(operator, name=LONG_NAME, account_id=USER_ID, secret=API_KEY)
    Connection.objects.filter(pk=merchant.pk).update(
        status="online", last_tested_at=merchant.created_at, last_test_outcome="ok"
    )
    storefront = create_connection(
        operator,
        name="US storefront",
        api_type="storefront",
        account_id=STORE_ID,
        secret=PASSWORD,
    )

    page.goto(LIST)
    expect(page.locator("#site-name")).to_have_text("Okendo connections")
    assert page.title().endswith("| Okendo connections admin")
    headers = page.locator("#result_list thead th").all_inner_texts()
    assert [h.strip().lower() for h in headers[1:]] == ["name", "api type", "status", "last tested"]
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(2)
    tested = page.locator("td.field-last_tested").all_inner_texts()
    assert "—" in tested
    assert any(APP_DATE.fullmatch(text) for text in tested), tested
    name = page.locator(".okendo-name", has_text="Reviews for the European")
    expect(name).to_have_attribute("title", LONG_NAME)
    # One line, cut with an ellipsis.
    assert name.evaluate("e => e.scrollWidth > e.clientWidth")
    assert name.evaluate("e => e.getClientRects().length") == 1
    _check(page, "changelist", width)
    if width == "1280":
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280
        results = page.locator("#changelist .results")
        assert results.evaluate("e => e.scrollWidth <= e.clientWidth"), "the list scrolls"

    # Add: Merchant, then Storefront, then with errors.
    page.goto(f"{LIST}add/")
    page.locator("#id_user_id").fill(USER_ID)
    _check(page, "add-merchant", width)
    _fits_uuid(page, "#id_user_id")
    if width == "1280":
        assert_focus_rings_visible(page, stops=40)
    page.locator('input[name="api_type"][value="storefront"]').check()
    expect(page.get_by_role("heading", name="Storefront credentials")).to_be_visible()
    _fits_uuid(page, "#id_username")
    _check(page, "add-storefront", width)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".errornote")).to_be_visible()
    _check(page, "add-storefront-errors", width)
    page.locator('input[name="api_type"][value="merchant"]').check()
    expect(page.get_by_role("heading", name="Merchant credentials")).to_be_visible()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".errornote")).to_be_visible()
    _check(page, "add-merchant-errors", width)

    # Change pages, both types; dates in the app's format, "—" for what is empty.
    page.goto(f"{LIST}{merchant.pk}/change/")
    record = page.locator("fieldset", has=page.get_by_role("heading", name="Record"))
    created = record.locator(".field-created_at .readonly").inner_text()
    assert APP_DATE.fullmatch(created), created
    _fits_uuid(page, "#id_user_id")
    _check(page, "change-merchant", width)
    page.locator("#id_name").fill("")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".errornote")).to_be_visible()
    _check(page, "change-merchant-errors", width)

    page.goto(f"{LIST}{storefront.pk}/change/")
    health = page.locator("fieldset", has=page.get_by_role("heading", name="Health"))
    expect(health.locator(".field-last_tested_at .readonly")).to_have_text("—")
    expect(health.locator(".field-last_test .readonly")).to_have_text("—")
    _check(page, "change-storefront", width)
