"""The connection pages over HTTP: switching fields, saving, secrets, permissions, queries."""

from __future__ import annotations

import base64
import re
from urllib.parse import quote

import pytest
from django.contrib.auth.models import User
from django.test import Client

from connections import services
from connections.models import Connection, ConnectionEvent
from connections.sensitive import Secret
from connections.services import ConnectionData
from tests.factories import (
    API_KEY,
    API_KEY_2,
    CONNECTION_ACTIONS,
    PASSWORD,
    STORE_ID,
    USER_ID,
    client_for,
    create_connection,
    make_user,
    merchant_post,
    post_reporting_errors,
    storefront_post,
)

pytestmark = pytest.mark.django_db

ALL_SECRETS = (API_KEY, API_KEY_2, PASSWORD)


@pytest.fixture
def editor() -> User:
    return make_user("erin", *CONNECTION_ACTIONS)


@pytest.fixture
def client(editor: User) -> Client:
    return client_for(editor)


@pytest.fixture
def merchant(editor: User) -> Connection:
    return create_connection(editor, name="Existing shop", account_id=USER_ID, secret=API_KEY)


@pytest.fixture
def storefront(editor: User) -> Connection:
    return create_connection(
        editor,
        name="Storefront shop",
        api_type="storefront",
        account_id=STORE_ID,
        secret=PASSWORD,
    )


def html_of(response) -> str:
    return response.content.decode()


def input_names(html: str) -> set[str]:
    return set(re.findall(r'<input[^>]*\bname="([a-z_]+)"', html))


def assert_no_secret(response, *secrets: str) -> None:
    """Assert no secret appears in the body or headers, plain, base64 or URL-encoded."""
    body = response.content.decode()
    headers = "\n".join(f"{name}: {value}" for name, value in response.headers.items())
    for secret in secrets or ALL_SECRETS:
        for form in (secret, base64.b64encode(secret.encode()).decode(), quote(secret)):
            assert form not in body
            assert form not in headers


def assert_no_ciphertext(response) -> None:
    body = response.content.decode()
    for connection in Connection.objects.all():
        for stored in (connection.api_key_encrypted, connection.password_encrypted):
            if stored:
                assert stored not in body
                assert stored.split(":")[2][:24] not in body


# --- Field switching --------------------------------------------------------------


def test_create_page_shows_merchant_fields_by_default(client: Client) -> None:
    response = client.get("/connections/new/")
    html = html_of(response)

    assert response.status_code == 200
    assert input_names(html) == {
        "csrfmiddlewaretoken",
        "test_proof",
        "name",
        "api_type",
        "user_id",
        "api_key",
    }
    assert re.search(r'value="merchant"\s+id="id_api_type_merchant" checked', html)
    assert "How to retrieve the User ID and API key" in html
    assert 'id="test-result" class="test-result" aria-live="polite"' in html
    assert "<html" in html


def test_full_page_get_with_storefront_type_shows_storefront_fields(client: Client) -> None:
    response = client.get("/connections/new/?api_type=storefront")
    html = html_of(response)

    assert "<html" in html
    assert input_names(html) == {
        "csrfmiddlewaretoken",
        "test_proof",
        "name",
        "api_type",
        "username",
        "password",
    }
    assert re.search(r'value="storefront"\s+id="id_api_type_storefront" checked', html)


@pytest.mark.parametrize(
    ("api_type", "fields", "absent"),
    [
        ("storefront", {"username", "password"}, {"user_id", "api_key"}),
        ("merchant", {"user_id", "api_key"}, {"username", "password"}),
    ],
)
def test_htmx_switch_answers_only_the_credential_fields(
    client: Client, api_type: str, fields: set[str], absent: set[str]
) -> None:
    response = client.get(f"/connections/new/?api_type={api_type}", headers={"HX-Request": "true"})
    html = html_of(response)

    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="credential-fields"')
    assert "<html" not in html
    assert 'name="name"' not in html  # the typed name lives outside the fragment
    assert input_names(html) == fields
    assert not input_names(html) & absent
    assert "HX-Request" in response["Vary"]


def test_radio_inputs_ask_htmx_for_the_credential_fields(client: Client) -> None:
    html = html_of(client.get("/connections/new/"))

    for value in ("merchant", "storefront"):
        radio = re.search(rf'<input type="radio"[^>]*value="{value}"[^>]*>', html, re.S)
        assert radio
        assert 'hx-get="/connections/new/"' in radio.group(0)
        assert 'hx-target="#credential-fields"' in radio.group(0)
        assert "required" in radio.group(0)
    assert '<div id="credential-fields"' in html
    assert "/static/vendor/htmx-2.0.11.min.js" in html


def test_no_js_change_button_rerenders_chosen_type_without_saving(client: Client) -> None:
    response = client.post(
        "/connections/new/",
        {**merchant_post(name="Kept name", api_type="storefront"), "change_type": "1"},
    )
    html = html_of(response)

    assert response.status_code == 200
    assert input_names(html) >= {"username", "password"}
    assert not input_names(html) & {"user_id", "api_key"}
    assert 'value="Kept name"' in html
    assert "not saved" not in html  # a switch is not an error
    assert Connection.objects.count() == 0
    assert_no_secret(response)


def test_no_js_change_button_back_to_merchant(client: Client) -> None:
    response = client.post(
        "/connections/new/",
        {**storefront_post(api_type="merchant"), "change_type": "1"},
    )
    html = html_of(response)

    assert input_names(html) >= {"user_id", "api_key"}
    assert not input_names(html) & {"username", "password"}
    assert Connection.objects.count() == 0
    assert_no_secret(response)


def test_change_button_lives_in_noscript(client: Client) -> None:
    html = html_of(client.get("/connections/new/"))

    noscript = re.search(r"<noscript>\s*<p class=\"noscript-change\">.*?</noscript>", html, re.S)
    assert noscript
    assert 'name="change_type"' in noscript.group(0)


def test_stale_field_set_is_never_saved(client: Client) -> None:
    # Storefront chosen, but the Merchant fields were filled (no JavaScript, no Change).
    response = client.post("/connections/new/", merchant_post(api_type="storefront"))

    assert response.status_code == 200
    assert "You chose Storefront" in html_of(response)
    assert Connection.objects.count() == 0
    assert_no_secret(response)


def test_edit_htmx_switch_warns_about_erasing(client: Client, merchant: Connection) -> None:
    response = client.get(
        f"/connections/{merchant.pk}/edit/?api_type=storefront", headers={"HX-Request": "true"}
    )
    html = html_of(response)

    assert input_names(html) == {"username", "password"}
    assert "Saving as Storefront erases the stored Merchant User ID and API key." in html
    assert merchant.api_key_fingerprint not in html


def test_edit_no_js_switch_keeps_typed_name(client: Client, merchant: Connection) -> None:
    response = client.post(
        f"/connections/{merchant.pk}/edit/",
        {**merchant_post(name="Renamed", api_type="storefront"), "change_type": "1"},
    )
    html = html_of(response)

    assert 'value="Renamed"' in html
    assert input_names(html) >= {"username", "password"}
    merchant.refresh_from_db()
    assert (merchant.name, merchant.api_type) == ("Existing shop", "merchant")
    assert_no_secret(response)


# --- Create ---------------------------------------------------------------------


def test_create_merchant_redirects_to_detail(client: Client, editor: User) -> None:
    response = client.post("/connections/new/", merchant_post(user_id=USER_ID.upper()))

    connection = Connection.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/connections/{connection.pk}/"
    assert connection.api_type == "merchant"
    assert connection.user_id == USER_ID
    assert connection.get_api_key() == Secret(API_KEY)
    assert (connection.username, connection.password_encrypted) == ("", "")
    assert connection.created_by == editor
    assert_no_secret(response)


def test_create_storefront_stores_only_storefront_fields(client: Client) -> None:
    response = client.post("/connections/new/", storefront_post(user_id=USER_ID, api_key=API_KEY_2))

    connection = Connection.objects.get()
    assert response.status_code == 302
    assert (connection.api_type, connection.username) == ("storefront", STORE_ID)
    assert connection.get_password() == Secret(PASSWORD)
    assert (connection.user_id, connection.api_key_encrypted) == ("", "")


def test_error_rerender_keeps_typed_values_and_drops_secrets(
    client: Client, merchant: Connection
) -> None:
    response = client.post(
        "/connections/new/", merchant_post(name="existing SHOP", user_id="  not-a-uuid ")
    )
    html = html_of(response)

    assert response.status_code == 200
    assert Connection.objects.count() == 1
    assert 'value="existing SHOP"' in html
    assert 'value="  not-a-uuid "' in html  # as typed
    assert "A connection named “existing SHOP” already exists." in html
    assert "must be the store&#x27;s Okendo User ID" in html
    assert "Re-enter the API key: secrets are never sent back to the browser." in html
    assert re.search(r'<input type="password" name="api_key"(?![^>]*value=)[^>]*>', html)
    assert 'aria-describedby="id_user_id_helptext id_user_id_error"' in html
    assert 'aria-invalid="true"' in html
    assert "The connection was not saved" in html
    assert_no_secret(response)
    assert_no_ciphertext(response)


def test_tampered_api_type_is_refused_with_a_message(client: Client) -> None:
    response = client.post("/connections/new/", merchant_post(api_type="enterprise"))
    html = html_of(response)

    assert response.status_code == 200
    assert "Unknown API type. Choose Merchant or Storefront." in html
    assert 'id="id_api_type_error"' in html
    assert Connection.objects.count() == 0
    assert_no_secret(response)


@pytest.mark.parametrize(
    ("post", "field", "message"),
    [
        (merchant_post(name=""), "name", "Enter a name for this connection."),
        (merchant_post(name="n" * 101), "name", "Use at most 100 characters for the name"),
        (merchant_post(user_id=""), "user_id", "Enter the User ID"),
        (merchant_post(user_id="a:b"), "user_id", "The User ID cannot contain “:”."),
        (merchant_post(api_key=""), "api_key", "Enter the API key."),
        (merchant_post(api_key="k" * 257), "api_key", "at most 256 characters"),
        (merchant_post(api_key="a key"), "api_key", "cannot contain spaces"),
        (merchant_post(api_key="a:key"), "api_key", "cannot contain “:”"),
        (storefront_post(username="x"), "username", "The Username must be the store"),
        (storefront_post(password=""), "password", "Enter the Password."),
        (storefront_post(password="p\tw"), "password", "cannot contain spaces"),
    ],
)
def test_each_validation_message_is_shown_beside_its_field(
    client: Client, post: dict[str, str], field: str, message: str
) -> None:
    html = html_of(client.post("/connections/new/", post))

    error_block = re.search(
        rf'<div class="field__error" id="id_{field}_error">(.*?)</div>', html, re.S
    )
    assert error_block, f"no error beside {field}"
    assert message.replace("'", "&#x27;") in error_block.group(1)
    assert Connection.objects.count() == 0


def test_create_records_an_event(client: Client, editor: User) -> None:
    client.post("/connections/new/", merchant_post())

    event = ConnectionEvent.objects.get()
    assert (event.action, event.actor, event.actor_name) == ("created", editor, "erin")
    assert event.summary == "Created as a Merchant connection."


# --- Edit -----------------------------------------------------------------------


def test_edit_page_prefills_non_secrets_and_never_the_secret(
    client: Client, merchant: Connection
) -> None:
    response = client.get(f"/connections/{merchant.pk}/edit/")
    html = html_of(response)

    assert 'value="Existing shop"' in html
    assert f'value="{USER_ID}"' in html
    assert "Stored encrypted. Re-enter it to save changes." in html
    assert f"fingerprint {merchant.api_key_fingerprint}" in html
    assert "by erin" in html
    assert re.search(r'<input type="password" name="api_key"(?![^>]*value=)[^>]*required', html)
    assert_no_secret(response)
    assert_no_ciphertext(response)


def test_edit_without_reentered_secret_changes_nothing(
    client: Client, merchant: Connection
) -> None:
    response = client.post(
        f"/connections/{merchant.pk}/edit/", merchant_post(name="Renamed", api_key="")
    )
    html = html_of(response)

    assert "Re-enter the API key: it is stored encrypted" in html
    assert 'value="Renamed"' in html
    assert "<h1" in html
    merchant.refresh_from_db()
    assert merchant.name == "Existing shop"
    assert ConnectionEvent.objects.filter(action="updated").count() == 0


def test_edit_saves_and_redirects(client: Client, merchant: Connection) -> None:
    response = client.post(
        f"/connections/{merchant.pk}/edit/", merchant_post(name="Renamed", api_key=API_KEY_2)
    )

    assert response.status_code == 302
    assert response["Location"] == f"/connections/{merchant.pk}/"
    merchant.refresh_from_db()
    assert merchant.name == "Renamed"
    assert merchant.get_api_key() == Secret(API_KEY_2)
    event = ConnectionEvent.objects.filter(action="updated").get()
    assert event.details == {"changed": ["name"], "secrets_replaced": True, "erased": []}


def test_type_change_erases_the_old_secrets(client: Client, merchant: Connection) -> None:
    response = client.post(f"/connections/{merchant.pk}/edit/", storefront_post(name="Switched"))

    assert response.status_code == 302
    merchant.refresh_from_db()
    assert merchant.api_type == "storefront"
    assert merchant.user_id == ""
    assert merchant.api_key_encrypted == ""
    assert merchant.api_key_fingerprint == ""
    assert merchant.api_key_set_at is None
    assert merchant.get_password() == Secret(PASSWORD)
    assert merchant.username == STORE_ID


def test_type_change_back_to_merchant_erases_the_password(
    client: Client, storefront: Connection
) -> None:
    client.post(f"/connections/{storefront.pk}/edit/", merchant_post(name="Back"))

    storefront.refresh_from_db()
    assert storefront.api_type == "merchant"
    assert (storefront.username, storefront.password_encrypted) == ("", "")
    assert storefront.password_set_by is None
    assert storefront.get_api_key() == Secret(API_KEY)


def test_edit_to_a_taken_name_shows_the_error(
    client: Client, merchant: Connection, storefront: Connection
) -> None:
    response = client.post(
        f"/connections/{storefront.pk}/edit/", storefront_post(name="EXISTING SHOP")
    )

    assert "A connection named “EXISTING SHOP” already exists." in html_of(response)
    storefront.refresh_from_db()
    assert storefront.name == "Storefront shop"


# --- Detail, list, delete ----------------------------------------------------------


def test_detail_shows_fields_secret_metadata_and_history(
    client: Client, merchant: Connection
) -> None:
    client.post(f"/connections/{merchant.pk}/edit/", merchant_post(name="Renamed"))
    merchant.refresh_from_db()

    response = client.get(f"/connections/{merchant.pk}/")
    html = html_of(response)

    assert response.status_code == 200
    assert "<h1>Renamed</h1>" in html
    assert USER_ID in html
    assert f"· {merchant.secret_summary('api_key')}</span>" in html
    assert "Untested" in html
    assert html.index("Changed the name.") < html.index("Created as a Merchant connection.")
    assert f'href="/connections/{merchant.pk}/edit/"' in html
    assert f'href="/connections/{merchant.pk}/delete/"' in html
    assert 'id="test-result"' in html
    assert_no_secret(response)
    assert_no_ciphertext(response)


def test_detail_says_when_it_shows_only_the_latest_100_events(
    client: Client, merchant: Connection
) -> None:
    note = "The latest 100 events. Every event stays in the admin"
    assert note not in html_of(client.get(f"/connections/{merchant.pk}/"))

    ConnectionEvent.objects.bulk_create(
        ConnectionEvent(
            connection=merchant,
            connection_uid=merchant.uid,
            connection_name=merchant.name,
            action=ConnectionEvent.Action.TESTED,
            summary=f"Tested: ok ({index} ms)",
        )
        for index in range(120)
    )
    html = html_of(client.get(f"/connections/{merchant.pk}/"))

    assert note in html
    assert html.count('class="timeline__item ') == 100


def test_detail_shows_the_last_test_result(client: Client, merchant: Connection) -> None:
    Connection.objects.filter(pk=merchant.pk).update(
        status="offline",
        last_test_outcome="auth_failed",
        last_test_message="Okendo rejected this User ID and API key.",
        last_test_http_status=401,
        last_test_elapsed_ms=87,
        last_tested_at=merchant.created_at,
    )

    html = html_of(client.get(f"/connections/{merchant.pk}/"))

    assert 'badge badge--offline">Offline' in html
    assert "Okendo rejected this User ID and API key." in html
    assert "auth_failed" in html
    assert "401" in html
    assert "87 ms" in html


def test_list_shows_columns_without_secrets(
    client: Client, merchant: Connection, storefront: Connection
) -> None:
    response = client.get("/connections/")
    html = html_of(response)

    assert "Existing shop" in html
    assert "Storefront shop" in html
    for column in ("Name", "API type", "Status", "Last tested", "Last updated"):
        assert f">{column}<" in html
    assert "Never" in html
    assert_no_secret(response)
    assert_no_ciphertext(response)


def test_list_empty_state_invites_the_first_connection(client: Client) -> None:
    html = html_of(client.get("/connections/"))

    assert "No connections yet" in html
    assert '<a class="btn btn--primary" href="/connections/new/">Create connection</a>' in html


def test_list_searches_by_name(
    client: Client, merchant: Connection, storefront: Connection
) -> None:
    html = html_of(client.get("/connections/?q=STOREfront"))

    assert "Storefront shop" in html
    assert "Existing shop" not in html
    assert "1 connection matching" in html


def test_list_search_without_match_says_so(client: Client, merchant: Connection) -> None:
    html = html_of(client.get("/connections/?q=nothing-like-this"))

    assert "No connections match “nothing-like-this”" in html
    assert "No connections yet" not in html


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name", ["alpha", "Bravo", "charlie"]),
        ("-name", ["charlie", "Bravo", "alpha"]),
        ("updated", ["charlie", "alpha", "Bravo"]),
        ("-updated", ["Bravo", "alpha", "charlie"]),
        ("bogus", ["alpha", "Bravo", "charlie"]),
    ],
)
def test_list_sorts_by_name_and_last_update(
    client: Client, editor: User, sort: str, expected: list[str]
) -> None:
    for name in ("charlie", "alpha", "Bravo"):  # created (and updated) in this order
        services.connection_create(
            actor=editor,
            data=ConnectionData(
                name=name, api_type="merchant", account_id=USER_ID, secret=Secret(API_KEY)
            ),
        )

    html = html_of(client.get(f"/connections/?sort={sort}"))

    names = re.findall(r'class="table__primary" href="/connections/\d+/">([^<]+)<', html)
    assert names == expected


def bulk_connections(count: int) -> None:
    Connection.objects.bulk_create(
        Connection(name=f"Connection {index:04d}", api_type="merchant", user_id=USER_ID)
        for index in range(count)
    )


@pytest.mark.parametrize("count", [5, 500])
def test_list_query_count_does_not_grow(
    client: Client, django_assert_num_queries, count: int
) -> None:
    bulk_connections(count)

    # session, user, user permissions, group permissions, count, page.
    with django_assert_num_queries(6):
        response = client.get("/connections/?sort=-updated")

    assert response.status_code == 200
    assert html_of(response).count('class="table__primary"') == min(count, 50)


def test_list_pages_by_50(client: Client) -> None:
    bulk_connections(120)

    first = html_of(client.get("/connections/"))
    last = html_of(client.get("/connections/?page=3"))

    assert first.count('class="table__primary"') == 50
    assert "Page 1 of 3" in first
    assert last.count('class="table__primary"') == 20
    assert "Connection 0119" in last
    assert html_of(client.get("/connections/?page=999")).count('class="table__primary"') == 20


def test_delete_asks_then_deletes_and_keeps_history(
    client: Client, merchant: Connection, editor: User
) -> None:
    confirm = client.get(f"/connections/{merchant.pk}/delete/")
    assert "Delete “Existing shop”?" in html_of(confirm)
    assert Connection.objects.count() == 1

    response = client.post(f"/connections/{merchant.pk}/delete/")

    assert response.status_code == 302
    assert response["Location"] == "/connections/"
    assert Connection.objects.count() == 0
    events = list(ConnectionEvent.objects.all())
    assert [event.action for event in events] == ["deleted", "created"]
    assert all(event.connection_id is None for event in events)
    assert all(event.connection_uid == merchant.uid for event in events)
    assert events[0].actor == editor
    assert "deleted. Its history is kept." in html_of(client.get("/connections/"))


@pytest.mark.parametrize("path", ["/connections/999/", "/connections/999/edit/"])
def test_unknown_connection_is_404(client: Client, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 404
    assert "Page not found" in html_of(response)


def test_huge_id_is_404_not_500(client: Client) -> None:
    assert client.get("/connections/99999999999999999999999/").status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [("post", "/connections/"), ("put", "/connections/new/"), ("post", "/connections/{pk}/")],
)
def test_wrong_method_is_405(client: Client, merchant: Connection, method: str, path: str) -> None:
    assert getattr(client, method)(path.format(pk=merchant.pk)).status_code == 405


# --- Permissions --------------------------------------------------------------------

PAGES = [
    ("get", "/connections/", "view"),
    ("get", "/connections/new/", "add"),
    ("post", "/connections/new/", "add"),
    ("get", "/connections/{pk}/", "view"),
    ("get", "/connections/{pk}/edit/", "change"),
    ("post", "/connections/{pk}/edit/", "change"),
    ("get", "/connections/{pk}/delete/", "delete"),
    ("post", "/connections/{pk}/delete/", "delete"),
]


@pytest.mark.parametrize(("method", "path", "action"), PAGES)
def test_anonymous_users_go_to_login(merchant: Connection, method: str, path: str, action: str):
    response = getattr(Client(), method)(path.format(pk=merchant.pk))

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize(("method", "path", "action"), PAGES)
def test_users_without_the_permission_get_403(
    merchant: Connection, method: str, path: str, action: str
) -> None:
    others = [other for other in CONNECTION_ACTIONS if other != action]
    client = client_for(make_user("mallory", *others))

    response = getattr(client, method)(path.format(pk=merchant.pk), merchant_post(name="Hijack"))

    assert response.status_code == 403
    assert "You don't have access to this page" in html_of(response)
    merchant.refresh_from_db()
    assert merchant.name == "Existing shop"
    assert Connection.objects.count() == 1


def test_viewer_sees_no_edit_create_or_delete_buttons(merchant: Connection) -> None:
    client = client_for(make_user("victor", "view"))

    listing = html_of(client.get("/connections/"))
    detail = html_of(client.get(f"/connections/{merchant.pk}/"))

    assert 'href="/connections/new/"' not in listing
    assert "/edit/" not in detail
    assert "/delete/" not in detail


# --- Leak-proofing -------------------------------------------------------------------


def test_create_view_hides_secrets_from_error_reports(client: Client, monkeypatch) -> None:
    def explode(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(services, "connection_create", explode)
    response, seen = post_reporting_errors(client, "/connections/new/", merchant_post())

    assert response.status_code == 500
    assert "Something went wrong" in html_of(response)
    assert_no_secret(response)
    assert seen
    assert seen[0]["api_key"] != API_KEY
    assert set(seen[0]["api_key"]) == {"*"}
    assert seen[0]["name"] == "EU reviews"


def test_edit_view_hides_secrets_from_error_reports(
    client: Client, merchant: Connection, monkeypatch
) -> None:
    def explode(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(services, "connection_update", explode)
    _response, seen = post_reporting_errors(
        client, f"/connections/{merchant.pk}/edit/", storefront_post()
    )

    assert set(seen[0]["password"]) == {"*"}


def test_no_secret_in_any_page_of_a_full_round(client: Client, caplog) -> None:
    responses = [client.get("/connections/new/")]
    responses.append(client.post("/connections/new/", merchant_post(name="")))
    responses.append(client.post("/connections/new/", merchant_post()))
    pk = Connection.objects.get().pk
    responses.append(client.get(f"/connections/{pk}/"))
    responses.append(client.get(f"/connections/{pk}/edit/"))
    responses.append(client.post(f"/connections/{pk}/edit/", storefront_post(name="")))
    responses.append(client.post(f"/connections/{pk}/edit/", storefront_post()))
    responses.append(client.get(f"/connections/{pk}/"))
    responses.append(client.get("/connections/"))
    responses.append(client.get(f"/connections/{pk}/delete/"))
    responses.append(client.post(f"/connections/{pk}/delete/"))
    responses.append(client.get("/connections/"))

    for response in responses:
        assert_no_secret(response)
    for event in ConnectionEvent.objects.all():
        for secret in ALL_SECRETS:
            assert secret not in event.summary
            assert secret not in str(event.details)
    for secret in ALL_SECRETS:
        assert secret not in caplog.text
