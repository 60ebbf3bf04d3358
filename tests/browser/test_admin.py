"""The connection admin in Chromium: htmx swaps the credentials by API type; Test button."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, Page, expect

from connections import services
from connections.models import Connection, ConnectionEvent
from connections.sensitive import Secret
from connections.services import ConnectionData
from tests.browser.conftest import DESKTOP
from tests.factories import CONNECTION_ACTIONS, STORE_ID, make_user, signed_in_page

pytestmark = pytest.mark.browser

NEW_PASSWORD = "pw_test_NOT_A_REAL_PASSWORD_BROWSER1"


@pytest.fixture
def operator(transactional_db) -> User:
    return make_user("opal", *CONNECTION_ACTIONS, is_staff=True)


@pytest.fixture
def admin_page(browser: Browser, live_server, operator: User) -> Iterator[Page]:
    yield from signed_in_page(browser, live_server.url, operator, viewport=DESKTOP)


def test_admin_switches_type_in_place_tests_and_saves(
    admin_page: Page, operator: User, okendo, screenshots
) -> None:
    page = admin_page
    connection = services.connection_create(
        actor=operator,
        data=ConnectionData(
            name="EU reviews",
            api_type="merchant",
            account_id=okendo.user_id,
            secret=Secret(okendo.api_key),
        ),
    )
    page.goto(f"/admin/connections/connection/{connection.pk}/change/")
    expect(page.get_by_role("heading", name="Merchant credentials")).to_be_visible()

    page.get_by_role("button", name="Test connection").click()
    expect(page.locator(".messagelist")).to_contain_text("“EU reviews”: ok (HTTP 200")
    page.screenshot(path=screenshots / "admin-change-merchant.png", full_page=True)

    page.locator("#id_name").fill("EU storefront")
    page.locator('input[name="api_type"][value="storefront"]').check()
    expect(page.get_by_role("heading", name="Storefront credentials")).to_be_visible()
    expect(page.get_by_text("Saving as Storefront erases the stored Merchant")).to_be_visible()
    expect(page.locator('input[name="api_key"]')).to_have_count(0)
    expect(page.locator("#id_name")).to_have_value("EU storefront")  # not swapped
    page.screenshot(path=screenshots / "admin-change-switched-to-storefront.png", full_page=True)

    page.get_by_label("Username:").fill(STORE_ID)
    page.get_by_label("Password:").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    page.screenshot(path=screenshots / "admin-list.png", full_page=True)
    assert NEW_PASSWORD not in page.content()
    connection.refresh_from_db()
    assert connection.name == "EU storefront"
    assert connection.api_type == Connection.ApiType.STOREFRONT
    assert connection.username == STORE_ID
    assert connection.get_password() == Secret(NEW_PASSWORD)
    assert not connection.has_secret("api_key")
    actions = list(
        ConnectionEvent.objects.filter(connection=connection)
        .order_by("created_at", "id")
        .values_list("action", flat=True)
    )
    assert actions == ["created", "tested", "updated"]
