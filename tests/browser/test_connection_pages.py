"""End to end in Chromium: create, switch type, fix errors, edit, delete; with and without JS."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from connections.models import Connection, ConnectionEvent

pytestmark = pytest.mark.browser

API_KEY = "sk_test_NOT_A_REAL_KEY_000000001"
API_KEY_2 = "sk_test_NOT_A_REAL_KEY_000000002"
PASSWORD = "pw_test_NOT_A_REAL_PASSWORD_0001"
USER_ID = "1C8F0B3E-3F5A-4D4E-9A57-2F0C8E9B6D21"
STORE_ID = "2d9e1c4f-4a6b-4e5f-8b68-3a1d9f0c7e32"

MERCHANT = "Merchant — reviews (stores), customers and groups"
STOREFRONT = "Storefront — reviews per store, product or group"


def _field(page: Page, label: str):
    """Return the text or password input whose accessible name is exactly ``label``."""
    return page.get_by_role("textbox", name=label, exact=True)


def _expect_merchant_fields(page: Page) -> None:
    expect(_field(page, "User ID")).to_be_visible()
    expect(_field(page, "API key")).to_be_visible()
    expect(_field(page, "Username")).to_have_count(0)
    expect(_field(page, "Password")).to_have_count(0)


def _expect_storefront_fields(page: Page) -> None:
    expect(_field(page, "Username")).to_be_visible()
    expect(_field(page, "Password")).to_be_visible()
    expect(_field(page, "User ID")).to_have_count(0)
    expect(_field(page, "API key")).to_have_count(0)


def test_create_switch_fix_errors_edit_and_delete(page: Page, screenshots) -> None:
    page.goto("/connections/")
    expect(page.get_by_role("heading", name="No connections yet")).to_be_visible()
    page.get_by_role("link", name="Create connection").click()
    expect(page).to_have_url(re.compile(r"/connections/new/$"))
    expect(page.get_by_label(MERCHANT)).to_be_checked()
    _expect_merchant_fields(page)
    page.screenshot(path=screenshots / "form-merchant-desktop.png", full_page=True)

    # Switching swaps only the credential fields (htmx): the typed name stays.
    _field(page, "Name").fill("EU store reviews")
    _field(page, "User ID").fill(USER_ID)
    _field(page, "API key").fill(API_KEY)
    page.get_by_label(STOREFRONT).check()
    _expect_storefront_fields(page)
    expect(_field(page, "Name")).to_have_value("EU store reviews")
    # The User ID is the store's, whichever the type: it carries over; the secret never does.
    expect(_field(page, "Username")).to_have_value(USER_ID)
    expect(_field(page, "Password")).to_have_value("")
    page.screenshot(path=screenshots / "form-storefront-desktop.png", full_page=True)
    page.get_by_label(MERCHANT).check()
    _expect_merchant_fields(page)
    expect(_field(page, "User ID")).to_have_value(USER_ID)
    expect(_field(page, "API key")).to_have_value("")

    # Submit with errors: a bad User ID and a key with a space.
    _field(page, "User ID").fill("not-a-uuid")
    _field(page, "API key").fill("sk_test NOT_A_REAL_KEY")
    page.get_by_role("button", name="Create connection").click()
    expect(page.get_by_role("alert")).to_contain_text("The connection was not saved")
    user_id = _field(page, "User ID")
    expect(user_id).to_have_value("not-a-uuid")
    expect(user_id).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#id_user_id_error")).to_contain_text("must be the store's Okendo User ID")
    expect(page.locator("#id_api_key_error")).to_contain_text("cannot contain spaces")
    expect(_field(page, "API key")).to_have_value("")
    expect(_field(page, "Name")).to_have_value("EU store reviews")
    page.screenshot(path=screenshots / "form-errors-desktop.png", full_page=True)
    assert Connection.objects.count() == 0

    # Fix them and save: the detail page shows the metadata, never the key.
    _field(page, "User ID").fill(USER_ID)
    _field(page, "API key").fill(API_KEY)
    page.get_by_role("button", name="Create connection").click()
    expect(page.get_by_role("heading", name="EU store reviews", level=1)).to_be_visible()
    expect(page.get_by_text("Connection “EU store reviews” created.")).to_be_visible()
    expect(page.get_by_text(USER_ID.lower())).to_be_visible()
    assert API_KEY not in page.content()
    page.screenshot(path=screenshots / "detail-desktop.png", full_page=True)
    connection = Connection.objects.get()
    assert connection.get_api_key().reveal() == API_KEY

    # Edit: the secret must be re-entered.
    page.get_by_role("link", name="Edit").click()
    expect(_field(page, "Name")).to_have_value("EU store reviews")
    expect(_field(page, "API key")).to_have_value("")
    expect(page.get_by_text("Stored encrypted. Re-enter it to save changes.")).to_be_visible()
    expect(page.get_by_text(f"fingerprint {connection.api_key_fingerprint}")).to_be_visible()
    page.screenshot(path=screenshots / "form-edit-desktop.png", full_page=True)
    _field(page, "Name").fill("EU reviews")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#id_api_key_error")).to_contain_text("Re-enter the API key")
    expect(_field(page, "Name")).to_have_value("EU reviews")
    assert Connection.objects.get().name == "EU store reviews"
    _field(page, "API key").fill(API_KEY_2)
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("heading", name="EU reviews", level=1)).to_be_visible()
    expect(page.get_by_text("Changed the name; replaced the API key.")).to_be_visible()
    assert Connection.objects.get().get_api_key().reveal() == API_KEY_2

    # Delete, after the confirmation page; the history stays.
    page.get_by_role("link", name="Delete").click()
    expect(page.get_by_role("heading", name="Delete “EU reviews”?")).to_be_visible()
    page.get_by_role("button", name="Delete connection").click()
    expect(page).to_have_url(re.compile(r"/connections/$"))
    expect(page.get_by_text("Connection “EU reviews” deleted.")).to_be_visible()
    expect(page.get_by_role("heading", name="No connections yet")).to_be_visible()
    assert Connection.objects.count() == 0
    assert list(ConnectionEvent.objects.values_list("action", flat=True)) == [
        "deleted",
        "updated",
        "created",
    ]


def test_edit_switches_type_and_erases_the_old_secret(page: Page) -> None:
    page.goto("/connections/new/")
    _field(page, "Name").fill("Widget")
    _field(page, "User ID").fill(USER_ID)
    _field(page, "API key").fill(API_KEY)
    page.get_by_role("button", name="Create connection").click()
    page.get_by_role("link", name="Edit").click()

    page.get_by_label(STOREFRONT).check()
    expect(page.get_by_role("status").filter(has_text="erases the stored Merchant")).to_be_visible()
    _field(page, "Username").fill(STORE_ID)
    _field(page, "Password").fill(PASSWORD)
    page.get_by_role("button", name="Save changes").click()

    expect(page.get_by_text("Changed the API type from Merchant to Storefront")).to_be_visible()
    connection = Connection.objects.get()
    assert connection.api_type == "storefront"
    assert (connection.user_id, connection.api_key_encrypted) == ("", "")
    assert connection.get_password().reveal() == PASSWORD


def test_without_javascript_the_change_button_switches_fields(no_js_page: Page, screenshots):
    page = no_js_page
    page.goto("/connections/new/")
    change = page.get_by_role("button", name="Change")
    expect(change).to_be_visible()
    _field(page, "Name").fill("No script shop")
    _field(page, "API key").fill(API_KEY)
    page.get_by_label(STOREFRONT).check()
    change.click()

    _expect_storefront_fields(page)
    expect(_field(page, "Name")).to_have_value("No script shop")
    expect(page.get_by_label(STOREFRONT)).to_be_checked()
    assert API_KEY not in page.content()
    assert Connection.objects.count() == 0
    page.screenshot(path=screenshots / "form-storefront-nojs-desktop.png", full_page=True)

    # Back to Merchant with the button, then save for real.
    page.get_by_label(MERCHANT).check()
    page.get_by_role("button", name="Change").click()
    _expect_merchant_fields(page)
    _field(page, "User ID").fill(USER_ID)
    _field(page, "API key").fill(API_KEY)
    page.get_by_role("button", name="Create connection").click()
    expect(page.get_by_role("heading", name="No script shop", level=1)).to_be_visible()
    assert Connection.objects.get().api_type == "merchant"


def test_without_javascript_a_stale_field_set_is_never_saved(no_js_page: Page) -> None:
    page = no_js_page
    page.goto("/connections/new/")
    _field(page, "Name").fill("Stale")
    _field(page, "User ID").fill(USER_ID)
    _field(page, "API key").fill(API_KEY)
    page.get_by_label(STOREFRONT).check()  # the Merchant fields stay on screen
    page.get_by_role("button", name="Create connection").click()

    expect(page.get_by_role("alert")).to_contain_text("You chose Storefront")
    _expect_storefront_fields(page)
    assert Connection.objects.count() == 0


def test_phone_layout_fits_390_pixels(phone_page: Page, screenshots) -> None:
    page = phone_page
    page.goto("/connections/new/")
    page.screenshot(path=screenshots / "form-merchant-phone.png", full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    page.get_by_label(STOREFRONT).check()
    _expect_storefront_fields(page)
    page.screenshot(path=screenshots / "form-storefront-phone.png", full_page=True)
    page.get_by_role("button", name="Create connection").click()
    expect(page.get_by_role("alert")).to_contain_text("The connection was not saved")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=screenshots / "form-errors-phone.png", full_page=True)


def test_list_searches_and_sorts(page: Page, phone_page: Page, editor, screenshots) -> None:
    from connections import services
    from connections.sensitive import Secret
    from connections.services import ConnectionData

    for name, api_type, account in (
        ("EU store reviews", "merchant", USER_ID.lower()),
        ("US storefront widgets", "storefront", STORE_ID),
        ("Loyalty sync", "merchant", USER_ID.lower()),
    ):
        services.connection_create(
            actor=editor,
            data=ConnectionData(
                name=name, api_type=api_type, account_id=account, secret=Secret(API_KEY)
            ),
        )
    Connection.objects.filter(name="Loyalty sync").update(
        status="online", last_tested_at=Connection.objects.get(name="Loyalty sync").created_at
    )

    page.goto("/connections/")
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("EU store reviews")
    page.screenshot(path=screenshots / "list-desktop.png", full_page=True)
    page.get_by_role("link", name="Name").click()
    expect(rows.first).to_contain_text("US storefront widgets")
    page.get_by_role("searchbox", name="Search by name").fill("loyalty")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Online")

    phone_page.goto("/connections/")
    phone_page.screenshot(path=screenshots / "list-phone.png", full_page=True)
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 390
