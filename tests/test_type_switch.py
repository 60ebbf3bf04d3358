"""Switching the API type: the store's User ID carries over, a never-stored secret is "entered".

Both types' account field (User ID, Username) is the store's Okendo User ID, so a
switch keeps it, in the app (htmx and no-JavaScript) and the admin. A secret of
the new type was never stored: the page asks to enter it and the history says
it was set, not replaced.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

from connections.models import Connection, ConnectionEvent
from tests.factories import (
    API_KEY,
    CONNECTION_ACTIONS,
    PASSWORD,
    STORE_ID,
    USER_ID,
    client_for,
    create_connection,
    make_user,
    merchant_post,
    storefront_post,
)

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
TYPED_ID = "3e0f2d5a-5b7c-4f60-9c79-4b2e0a1d8f43"


@pytest.fixture
def operator() -> User:
    return make_user("sam", *CONNECTION_ACTIONS, is_staff=True)


@pytest.fixture
def client(operator: User) -> Client:
    return client_for(operator)


@pytest.fixture
def merchant(operator: User) -> Connection:
    return create_connection(operator, name="EU reviews", account_id=USER_ID, secret=API_KEY)


@pytest.fixture
def storefront(operator: User) -> Connection:
    return create_connection(
        operator, name="EU store", account_id=STORE_ID, secret=PASSWORD, api_type="storefront"
    )


def input_value(html: str, name: str) -> str | None:
    """Return the value attribute of the input named ``name``; None when it has none."""
    tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', html)
    assert tag, f"no input {name}"
    value = re.search(r'value="([^"]*)"', tag.group(0))
    return value.group(1) if value else None


# --- The account id carries over -----------------------------------------------------


def test_edit_switch_to_storefront_carries_the_stored_user_id_as_username(
    client: Client, merchant: Connection
) -> None:
    html = client.get(
        f"/connections/{merchant.pk}/edit/?api_type=storefront", headers=HTMX
    ).content.decode()

    assert input_value(html, "username") == USER_ID


def test_edit_switch_to_merchant_carries_the_stored_username_as_user_id(
    client: Client, storefront: Connection
) -> None:
    html = client.get(
        f"/connections/{storefront.pk}/edit/?api_type=merchant", headers=HTMX
    ).content.decode()

    assert input_value(html, "user_id") == STORE_ID


def test_switch_carries_the_typed_user_id_over_the_stored_one(
    client: Client, merchant: Connection
) -> None:
    # htmx includes the account field shown before the switch (hx-include).
    create = client.get(
        "/connections/new/", {"api_type": "storefront", "user_id": TYPED_ID}, headers=HTMX
    ).content.decode()
    edit = client.get(
        f"/connections/{merchant.pk}/edit/",
        {"api_type": "merchant", "username": TYPED_ID},
        headers=HTMX,
    ).content.decode()

    assert input_value(create, "username") == TYPED_ID
    assert input_value(edit, "user_id") == TYPED_ID


def test_type_radios_send_the_shown_account_field_along(client: Client) -> None:
    html = client.get("/connections/new/").content.decode()

    radios = re.findall(r'<input type="radio"[^>]*>', html)
    assert len(radios) == 2
    for radio in radios:
        assert "#credential-fields [name=user_id], #credential-fields [name=username]" in radio


def test_no_js_change_button_carries_the_typed_user_id(client: Client) -> None:
    html = client.post(
        "/connections/new/",
        merchant_post(api_type="storefront", user_id=TYPED_ID, change_type="1"),
    ).content.decode()

    assert input_value(html, "username") == TYPED_ID
    assert input_value(html, "password") is None  # secrets never come back


# --- A secret never stored is entered, and set -----------------------------------------


def test_switched_secret_field_asks_to_enter_not_re_enter(
    client: Client, merchant: Connection
) -> None:
    fragment = client.get(
        f"/connections/{merchant.pk}/edit/?api_type=storefront", headers=HTMX
    ).content.decode()
    refused = client.post(
        f"/connections/{merchant.pk}/edit/", storefront_post(name="EU reviews", password="")
    ).content.decode()

    assert "Re-enter" not in fragment
    assert "Stored encrypted, never shown again." in fragment
    assert "Enter the Password." in refused
    assert "Re-enter the Password: it is stored" not in refused


def test_unswitched_edit_still_asks_to_re_enter(client: Client, merchant: Connection) -> None:
    html = client.get(f"/connections/{merchant.pk}/edit/").content.decode()

    assert "Re-enter it to save changes." in html


def test_history_says_the_new_secret_was_set_not_replaced(
    client: Client, merchant: Connection
) -> None:
    response = client.post(
        f"/connections/{merchant.pk}/edit/", storefront_post(name="EU reviews", username=USER_ID)
    )

    assert response.status_code == 302
    event = ConnectionEvent.objects.filter(action="updated").get()
    assert event.summary == (
        "Changed the API type from Merchant to Storefront and erased the User ID and API key; "
        "changed the Username; set the password."
    )
    assert event.details["secrets_set"] == ["password"]
    assert event.details["secrets_replaced"] is False
    assert PASSWORD not in str(event.details)


def test_history_still_says_replaced_for_a_new_secret_of_the_same_type(
    client: Client, merchant: Connection
) -> None:
    client.post(
        f"/connections/{merchant.pk}/edit/", merchant_post(name="EU reviews", api_key="k" * 32)
    )

    event = ConnectionEvent.objects.filter(action="updated").get()
    assert event.summary == "Replaced the API key."
    assert "secrets_set" not in event.details


# --- The admin ------------------------------------------------------------------------


def change_url(connection: Connection) -> str:
    return f"/admin/connections/connection/{connection.pk}/change/"


def test_admin_switch_carries_the_stored_user_id_and_asks_to_enter(
    client: Client, merchant: Connection
) -> None:
    html = client.get(
        change_url(merchant), {"api_type": "storefront"}, headers=HTMX
    ).content.decode()

    assert input_value(html, "username") == USER_ID
    assert "never shown again: enter it on every save" in html


def test_admin_switch_carries_the_typed_user_id(client: Client, merchant: Connection) -> None:
    add = client.get(
        "/admin/connections/connection/add/",
        {"api_type": "storefront", "user_id": TYPED_ID},
        headers=HTMX,
    ).content.decode()
    no_js = client.post(
        change_url(merchant),
        merchant_post(api_type="storefront", user_id=TYPED_ID, _change_type="1"),
    ).content.decode()

    assert input_value(add, "username") == TYPED_ID
    assert input_value(no_js, "username") == TYPED_ID


def test_admin_type_radios_send_the_shown_account_field_along(client: Client) -> None:
    html = client.get("/admin/connections/connection/add/").content.decode()

    radios = re.findall(r'<input type="radio"[^>]*>', html)
    assert radios
    for radio in radios:
        assert "hx-include=" in radio
        assert "[name=username]" in radio


# --- The error summary after a failed save --------------------------------------------


def summary_links(html: str) -> list[str]:
    summary = re.search(r'<div[^>]*id="error-summary".*?</div>', html, re.S)
    assert summary, "no error summary"
    return re.findall(r'<a href="#([^"]+)"', summary.group(0))


def test_switch_after_a_failed_save_sends_a_summary_of_the_fields_on_the_page(
    client: Client,
) -> None:
    failed = client.post("/connections/new/", merchant_post(name="", user_id="not-a-uuid"))
    assert summary_links(failed.content.decode()) == ["id_name", "id_user_id"]

    # What htmx sends when a type radio is clicked (see its hx-include).
    switched = client.get(
        "/connections/new/",
        {"api_type": "storefront", "user_id": "not-a-uuid", "recheck": "1", "name": ""},
        headers=HTMX,
    ).content.decode()

    assert 'id="credential-fields"' in switched
    assert 'hx-swap-oob="true"' in switched
    assert summary_links(switched) == ["id_name"]
    assert "id_user_id" not in switched


def test_switch_after_a_failed_save_with_a_good_name_hides_the_summary(
    client: Client,
) -> None:
    switched = client.get(
        "/connections/new/",
        {"api_type": "storefront", "recheck": "1", "name": "Fine name"},
        headers=HTMX,
    ).content.decode()

    assert '<div id="error-summary" hx-swap-oob="true" hidden></div>' in switched


def test_switch_without_a_summary_on_the_page_sends_none(client: Client) -> None:
    switched = client.get(
        "/connections/new/", {"api_type": "storefront", "name": ""}, headers=HTMX
    ).content.decode()

    assert "error-summary" not in switched


def test_summary_on_the_page_carries_the_recheck_flag(client: Client) -> None:
    failed = client.post("/connections/new/", merchant_post(name="")).content.decode()

    assert '<input type="hidden" name="recheck" value="1">' in failed
    assert "#error-summary [name=recheck], #id_name" in failed
