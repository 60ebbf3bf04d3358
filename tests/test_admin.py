"""The admin over HTTP: the app's form and services, secret rules, testing, history, permissions."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from urllib.parse import quote

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.test import Client

from connections import admin as connections_admin
from connections import selectors, services
from connections.models import Connection, ConnectionEvent
from connections.ratelimit import connection_test_lock
from connections.sensitive import Secret
from tests import factories
from tests.factories import (
    CONNECTION_ACTIONS,
    STORE_ID,
    USER_ID,
    client_for,
    create_connection,
    make_user,
    post_reporting_errors,
)

pytestmark = pytest.mark.django_db

API_KEY = "sk_test_NOT_A_REAL_KEY_ADMIN_00001"
API_KEY_2 = "sk_test_NOT_A_REAL_KEY_ADMIN_00002"
PASSWORD = "pw_test_NOT_A_REAL_PASSWORD_ADMIN1"
PASSWORD_2 = "pw_test_NOT_A_REAL_PASSWORD_ADMIN2"
PLAINTEXTS = (API_KEY, API_KEY_2, PASSWORD, PASSWORD_2)

LIST = "/admin/connections/connection/"
ADD = "/admin/connections/connection/add/"
EVENTS = "/admin/connections/connectionevent/"


def change_url(connection: Connection) -> str:
    return f"{LIST}{connection.pk}/change/"


@pytest.fixture
def operator() -> User:
    return make_user("opal", *CONNECTION_ACTIONS, is_staff=True)


@pytest.fixture
def viewer() -> User:
    return make_user("vic", "view", is_staff=True)


@pytest.fixture
def client(operator: User) -> Client:
    return client_for(operator)


@pytest.fixture
def merchant(operator: User) -> Connection:
    return create_connection(
        operator, name="EU reviews", api_type="merchant", account_id=USER_ID, secret=API_KEY
    )


@pytest.fixture
def storefront(operator: User) -> Connection:
    return create_connection(
        operator, name="US storefront", api_type="storefront", account_id=STORE_ID, secret=PASSWORD
    )


# The admin's own fake secrets, so the leak checks below know every plaintext in play.
def merchant_post(**overrides: str) -> dict[str, str]:
    return factories.merchant_post(**{"api_key": API_KEY, **overrides})


def storefront_post(**overrides: str) -> dict[str, str]:
    return factories.storefront_post(**{"name": "US storefront", "password": PASSWORD, **overrides})


def ciphertexts() -> list[str]:
    """Return every stored ciphertext, whole and its base64 payload alone."""
    values = []
    for row in Connection.objects.values_list("api_key_encrypted", "password_encrypted"):
        for stored in row:
            if stored:
                values += [stored, stored.rsplit(":", 1)[1]]
    return values


def forbidden_strings(extra_ciphertexts: Sequence[str] = ()) -> list[str]:
    forms = []
    for plaintext in PLAINTEXTS:
        forms += [plaintext, quote(plaintext), base64.b64encode(plaintext.encode()).decode()]
    return [*forms, *ciphertexts(), *extra_ciphertexts, "enc1:"]


def assert_no_secret(response, extra_ciphertexts: Sequence[str] = ()) -> None:
    body = response.content.decode()
    headers = str(response.headers)
    for value in forbidden_strings(extra_ciphertexts):
        assert value not in body
        assert value not in headers
    assert "_encrypted" not in body


def html_of(response) -> str:
    return response.content.decode()


def secret_inputs(response) -> list[str]:
    return re.findall(r"<input[^>]*type=\"password\"[^>]*>", html_of(response))


def snapshot() -> str:
    """Return every stored value of every connection and event, and the admin log."""
    return json.dumps(
        {
            "connections": list(Connection.objects.order_by("pk").values()),
            "events": list(ConnectionEvent.objects.order_by("pk").values()),
            "log": list(LogEntry.objects.order_by("pk").values()),
        },
        default=str,
    )


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# --- List -----------------------------------------------------------------------


def test_list_shows_name_type_status_and_last_tested_never_secrets(
    client: Client, merchant: Connection, storefront: Connection
) -> None:
    response = client.get(LIST)

    assert response.status_code == 200
    body = html_of(response)
    assert "EU reviews" in body
    assert "US storefront" in body
    assert '<td class="field-api_type_label">Merchant</td>' in body
    assert '<td class="field-api_type_label">Storefront</td>' in body
    assert 'class="okendo-badge okendo-badge--untested"' in body
    assert '<td class="field-last_tested">—</td>' in body  # never tested
    assert '<span class="okendo-name" title="EU reviews">EU reviews</span>' in body
    # Four columns (and the selection box) fit 1280 px: the rest is on the change page.
    columns = re.findall(r'<th scope="col" class="([^"]+)"', body)
    assert columns == [
        "action-checkbox-column",
        "sortable column-name_short",
        "sortable column-api_type_label",
        "sortable column-status_badge",
        "sortable column-last_tested",
    ]
    assert "field-created_by" not in body
    assert_no_secret(response)


def test_list_filters_by_api_type_and_status_and_searches_ids(
    client: Client, merchant: Connection, storefront: Connection
) -> None:
    Connection.objects.filter(pk=merchant.pk).update(status=Connection.Status.ONLINE)

    storefronts = html_of(client.get(LIST, {"api_type__exact": "storefront"}))
    online = html_of(client.get(LIST, {"status__exact": "online"}))
    by_user_id = html_of(client.get(LIST, {"q": USER_ID[:8].upper()}))
    by_username = html_of(client.get(LIST, {"q": STORE_ID}))
    year = merchant.updated_at.year
    by_year = client.get(LIST, {"updated_at__year": year})

    assert "US storefront" in storefronts
    assert "EU reviews" not in storefronts
    assert "EU reviews" in online
    assert "US storefront" not in online
    assert "EU reviews" in by_user_id
    assert "US storefront" not in by_user_id
    assert "US storefront" in by_username
    assert "EU reviews" not in by_username
    assert by_year.status_code == 200
    assert by_year.context["cl"].result_count == 2
    assert f"?updated_at__year={year}" in html_of(client.get(LIST))


# --- Add ------------------------------------------------------------------------


def test_add_page_has_only_the_chosen_types_fields_with_empty_secret_input(
    client: Client,
) -> None:
    merchant_page = client.get(ADD)
    storefront_page = client.get(ADD, {"api_type": "storefront"})

    merchant_body = html_of(merchant_page)
    assert 'name="user_id"' in merchant_body
    assert 'name="api_key"' in merchant_body
    assert 'name="username"' not in merchant_body
    assert 'name="password"' not in merchant_body
    assert "Merchant credentials" in merchant_body
    storefront_body = html_of(storefront_page)
    assert 'name="username"' in storefront_body
    assert 'name="password"' in storefront_body
    assert 'name="user_id"' not in storefront_body
    assert 'name="api_key"' not in storefront_body
    assert "Okendo does not check the password" in storefront_body
    [secret] = secret_inputs(merchant_page)
    assert "value=" not in secret
    assert 'autocomplete="new-password"' in secret
    # The radios swap the credentials fieldset with htmx, which the page loads.
    assert 'hx-get="/admin/connections/connection/add/"' in merchant_body
    assert 'hx-select="fieldset.okendo-credentials"' in merchant_body
    assert "vendor/htmx-2.0.11.min.js" in merchant_body


def test_add_creates_through_the_service_with_event_and_a_valueless_log(
    client: Client, operator: User
) -> None:
    response = client.post(ADD, merchant_post(user_id=USER_ID.upper()))

    connection = Connection.objects.get()
    assert response.status_code == 302
    assert response["Location"] == LIST
    assert connection.api_type == "merchant"
    assert connection.user_id == USER_ID  # normalised by the app's form
    assert connection.get_api_key() == Secret(API_KEY)
    assert connection.api_key_set_by == operator
    assert connection.created_by == operator
    [event] = ConnectionEvent.objects.filter(connection=connection)
    assert event.action == ConnectionEvent.Action.CREATED
    assert event.actor == operator
    [entry] = LogEntry.objects.all()
    assert entry.is_addition()
    assert entry.object_repr == "EU reviews"
    assert json.loads(entry.change_message) == [{"added": {}}]


def test_add_storefront_stores_only_storefront_fields(client: Client) -> None:
    # The other type's fields, posted anyway, are ignored: they are not on this form.
    response = client.post(ADD, storefront_post(user_id=USER_ID, api_key=API_KEY))

    assert response.status_code == 302
    connection = Connection.objects.get()
    assert connection.api_type == "storefront"
    assert connection.username == STORE_ID
    assert connection.get_password() == Secret(PASSWORD)
    assert connection.user_id == ""
    assert not connection.has_secret("api_key")


def test_add_with_errors_uses_the_apps_validation_and_never_echoes_the_secret(
    client: Client,
) -> None:
    response = client.post(ADD, merchant_post(user_id="not-a-uuid", api_key="has space"))

    assert response.status_code == 200
    body = html_of(response)
    assert "must be the store&#x27;s Okendo User ID" in body
    assert "cannot contain spaces" in body
    assert not Connection.objects.exists()
    assert_no_secret(response)
    assert "has space" not in body


def test_add_refuses_the_other_types_fields_only(client: Client) -> None:
    response = client.post(
        ADD, {"name": "Mixed", "api_type": "storefront", "user_id": USER_ID, "api_key": API_KEY}
    )

    assert response.status_code == 200
    assert "You chose Storefront: its fields are Username and Password" in html_of(response)
    assert not Connection.objects.exists()
    assert_no_secret(response)


def test_add_another_secret_help_after_other_errors_asks_to_reenter(client: Client) -> None:
    response = client.post(ADD, merchant_post(name=""))

    assert response.status_code == 200
    assert "Re-enter the API key: secrets are never sent back to the browser." in html_of(response)
    assert_no_secret(response)


def test_no_javascript_change_button_switches_fields_and_keeps_the_name(client: Client) -> None:
    response = client.post(
        ADD, merchant_post(name="Typed name", api_type="storefront") | {"_change_type": "1"}
    )

    assert response.status_code == 200
    body = html_of(response)
    assert 'name="username"' in body
    assert 'name="password"' in body
    assert 'name="api_key"' not in body
    assert 'value="Typed name"' in body
    assert "Please correct" not in body
    assert not Connection.objects.exists()
    assert_no_secret(response)


# --- Change ---------------------------------------------------------------------


def test_change_page_shows_fingerprint_and_who_set_it_never_the_secret(
    client: Client, merchant: Connection
) -> None:
    response = client.get(change_url(merchant))

    assert response.status_code == 200
    body = html_of(response)
    assert merchant.api_key_fingerprint in body
    assert "Stored encrypted</span>" in body
    assert f"· {merchant.secret_summary('api_key')}</span>" in body
    assert " by opal · fingerprint " in body
    [secret] = secret_inputs(response)
    assert "value=" not in secret
    assert "Re-enter it to save changes." in body
    assert "Test connection" in body
    assert_no_secret(response)


def test_change_without_the_secret_is_refused_clearly_and_changes_nothing(
    client: Client, merchant: Connection
) -> None:
    before = snapshot()

    response = client.post(change_url(merchant), merchant_post(name="Renamed", api_key=""))

    assert response.status_code == 200
    assert "Re-enter the API key: it is stored encrypted and never sent back" in html_of(response)
    assert snapshot() == before
    assert_no_secret(response)
    # The page still names the saved connection, not the refused edit.
    assert response.context["original"].name == "EU reviews"


def test_change_saves_through_the_service_and_logs_labels_not_values(
    client: Client, merchant: Connection, operator: User
) -> None:
    same = client.post(change_url(merchant), merchant_post(name="Renamed"))
    replaced = client.post(change_url(merchant), merchant_post(name="Renamed", api_key=API_KEY_2))

    assert same.status_code == 302
    assert replaced.status_code == 302
    merchant.refresh_from_db()
    assert merchant.name == "Renamed"
    assert merchant.get_api_key() == Secret(API_KEY_2)
    updates = ConnectionEvent.objects.filter(action="updated").order_by("pk")
    assert [e.details for e in updates] == [
        {"changed": ["name"], "secrets_replaced": False, "erased": []},
        {"changed": [], "secrets_replaced": True, "erased": []},
    ]
    messages = [json.loads(e.change_message) for e in LogEntry.objects.order_by("pk")]
    assert messages == [[{"changed": {"fields": ["Name"]}}], [{"changed": {"fields": ["API key"]}}]]
    history = client.get(f"{LIST}{merchant.pk}/history/")
    assert history.status_code == 200
    assert "Changed API key." in html_of(history)
    assert_no_secret(history)


def test_change_to_the_other_type_erases_the_old_credentials(
    client: Client, merchant: Connection
) -> None:
    page = client.get(change_url(merchant), {"api_type": "storefront"})
    response = client.post(change_url(merchant), storefront_post(name="EU reviews"))

    assert "Storefront credentials" in html_of(page)
    assert "Saving as Storefront erases the stored Merchant User ID and API key." in html_of(page)
    assert 'name="password"' in html_of(page)
    assert 'name="api_key"' not in html_of(page)
    assert response.status_code == 302
    merchant.refresh_from_db()
    assert merchant.api_type == "storefront"
    assert merchant.username == STORE_ID
    assert merchant.user_id == ""
    assert not merchant.has_secret("api_key")
    assert merchant.get_password() == Secret(PASSWORD)
    [entry] = LogEntry.objects.all()
    assert json.loads(entry.change_message) == [
        {"changed": {"fields": ["API type", "Username", "Password"]}}
    ]


def test_a_name_taken_between_check_and_save_is_refused_without_a_trace(
    client: Client, operator: User, monkeypatch
) -> None:
    create_connection(
        operator, name="Taken", api_type="merchant", account_id=USER_ID, secret=API_KEY_2
    )
    before = snapshot()
    real = selectors.connection_name_taken
    calls = []

    def stale_first_answer(**kwargs):
        # The form's checks run first and miss the row another operator saves just then.
        calls.append(kwargs)
        return False if len(calls) == 1 else real(**kwargs)

    monkeypatch.setattr(selectors, "connection_name_taken", stale_first_answer)
    monkeypatch.setattr(Connection, "validate_constraints", lambda self, exclude=None: None)

    response = client.post(ADD, merchant_post(name="taken"), follow=True)

    assert len(calls) == 2
    assert snapshot() == before
    assert any("already exists" in m and "Nothing was saved" in m for m in messages_of(response))
    assert_no_secret(response)


def test_admin_hides_secrets_from_error_reports(
    client: Client, merchant: Connection, monkeypatch
) -> None:
    def broken(**kwargs):
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(services, "connection_update", broken)
    response, seen = post_reporting_errors(
        client, change_url(merchant), merchant_post(api_key=API_KEY_2)
    )

    assert response.status_code == 500
    assert_no_secret(response)
    assert set(seen[0]["api_key"]) == {"*"}
    assert seen[0]["name"] == "EU reviews"


# --- Delete ---------------------------------------------------------------------


def test_delete_confirmation_then_delete_through_the_service(
    client: Client, merchant: Connection, operator: User
) -> None:
    ciphertext = ciphertexts()
    confirm = client.get(f"{LIST}{merchant.pk}/delete/")
    response = client.post(f"{LIST}{merchant.pk}/delete/", {"post": "yes"})

    assert confirm.status_code == 200
    assert "EU reviews" in html_of(confirm)
    assert_no_secret(confirm)
    assert response.status_code == 302
    assert not Connection.objects.exists()
    deleted = ConnectionEvent.objects.get(action="deleted")
    assert deleted.actor == operator
    assert deleted.connection_uid == merchant.uid
    assert LogEntry.objects.get().is_deletion()
    assert_no_secret(client.get(EVENTS), extra_ciphertexts=ciphertext)


def test_bulk_delete_records_one_event_per_connection(
    client: Client, merchant: Connection, storefront: Connection
) -> None:
    ciphertext = ciphertexts()
    selected = {"action": "delete_selected", "_selected_action": [merchant.pk, storefront.pk]}
    confirm = client.post(LIST, selected)
    response = client.post(LIST, {**selected, "post": "yes"}, follow=True)

    assert confirm.status_code == 200
    assert "Are you sure" in html_of(confirm)
    assert_no_secret(confirm)
    assert response.status_code == 200
    assert not Connection.objects.exists()
    assert ConnectionEvent.objects.filter(action="deleted").count() == 2
    assert_no_secret(response, extra_ciphertexts=ciphertext)


# --- Testing --------------------------------------------------------------------


@pytest.fixture
def okendo_connections(okendo, operator: User) -> list[Connection]:
    return [
        create_connection(
            operator,
            name="A merchant",
            api_type="merchant",
            account_id=okendo.user_id,
            secret=okendo.api_key,
        ),
        create_connection(
            operator,
            name="B wrong key",
            api_type="merchant",
            account_id=okendo.user_id,
            secret=API_KEY_2,
        ),
        create_connection(
            operator,
            name="C storefront",
            api_type="storefront",
            account_id=okendo.store_id,
            secret=okendo.password,
        ),
    ]


def test_action_tests_each_connection_against_okendo_and_reports_each(
    client: Client, okendo, okendo_connections: list[Connection], operator: User
) -> None:
    response = client.post(
        LIST,
        {
            "action": "test_selected",
            "_selected_action": [c.pk for c in okendo_connections],
        },
        follow=True,
    )

    assert response.status_code == 200
    messages = messages_of(response)
    assert len(messages) == 3
    assert messages[0].startswith("“A merchant”: ok (HTTP 200, ")
    assert messages[1].startswith("“B wrong key”: auth_failed (HTTP 401, ")
    assert messages[2].startswith("“C storefront”: ok (HTTP 200, ")
    assert "does not verify the password" in messages[2]
    statuses = dict(Connection.objects.values_list("name", "status"))
    assert statuses == {"A merchant": "online", "B wrong key": "offline", "C storefront": "online"}
    tested = ConnectionEvent.objects.filter(action="tested")
    assert tested.count() == 3
    assert {e.actor for e in tested} == {operator}
    assert [r.path for r in okendo.requests] == [
        "/enterprise/reviews",
        "/enterprise/reviews",
        f"/v1/stores/{okendo.store_id}/reviews",
    ]
    assert_no_secret(response)
    assert okendo.api_key not in html_of(response)
    assert okendo.password not in html_of(response)


def test_action_starts_no_test_after_its_time_budget(
    client: Client, okendo, okendo_connections: list[Connection], monkeypatch
) -> None:
    monkeypatch.setattr(connections_admin, "ACTION_TIME_BUDGET_SECONDS", 0.0)

    response = client.post(
        LIST,
        {"action": "test_selected", "_selected_action": [c.pk for c in okendo_connections]},
        follow=True,
    )

    messages = messages_of(response)
    assert messages[0].startswith("“A merchant”: ok")
    assert messages[1].startswith("Not tested: “B wrong key”, “C storefront”.")
    assert "manage.py test_connections" in messages[1]
    assert len(okendo.requests) == 1
    assert ConnectionEvent.objects.filter(action="tested").count() == 1


def test_test_button_posts_tests_and_returns_with_the_outcome(
    client: Client, okendo, okendo_connections: list[Connection]
) -> None:
    connection = okendo_connections[1]
    test_url = f"{LIST}{connection.pk}/test/"
    page = client.get(change_url(connection))

    response = client.post(test_url, follow=True)

    assert f'action="{test_url}"' in html_of(page)
    assert response.redirect_chain == [(change_url(connection), 302)]
    [message] = messages_of(response)
    assert message.startswith("“B wrong key”: auth_failed (HTTP 401, ")
    connection.refresh_from_db()
    assert connection.status == Connection.Status.OFFLINE
    assert ConnectionEvent.objects.filter(connection=connection, action="tested").count() == 1
    assert_no_secret(response)


def test_test_button_needs_post_and_the_csrf_token(
    operator: User, okendo, okendo_connections: list[Connection]
) -> None:
    connection = okendo_connections[0]
    test_url = f"{LIST}{connection.pk}/test/"
    strict = client_for(operator, enforce_csrf_checks=True)

    assert strict.get(test_url).status_code == 405
    assert strict.post(test_url).status_code == 403
    assert okendo.requests == []
    assert not ConnectionEvent.objects.filter(action="tested").exists()


def test_test_of_a_connection_already_being_tested_says_so(
    client: Client, okendo, okendo_connections: list[Connection]
) -> None:
    connection = okendo_connections[0]
    with connection_test_lock(str(connection.uid)):
        response = client.post(f"{LIST}{connection.pk}/test/", follow=True)

    [message] = messages_of(response)
    assert "another test of this connection is running" in message
    assert okendo.requests == []


# --- History --------------------------------------------------------------------


def test_events_show_inline_newest_first_and_limited_with_a_link_to_all(
    client: Client, merchant: Connection, operator: User
) -> None:
    for number in range(1, 25):
        ConnectionEvent.objects.create(
            connection=merchant,
            connection_uid=merchant.uid,
            connection_name=merchant.name,
            action="tested",
            summary=f"Tested: ok (test number {number:02d})",
        )

    response = client.get(change_url(merchant))

    body = html_of(response)
    shown = re.findall(r'field-summary">\s*<p>Tested: ok \(test number (\d\d)\)', body)
    assert shown == [f"{n:02d}" for n in range(24, 4, -1)]  # the latest 20, newest first
    assert "Created as a Merchant connection." not in body
    assert f'href="{EVENTS}?connection_uid={merchant.uid}">All 25 events</a>' in body
    assert 'name="events-0-summary"' not in body  # read-only: no inputs
    assert 'name="events-MAX_NUM_FORMS" value="0"' in body  # so inlines.js offers no "add"


def test_events_admin_is_read_only_and_filters_by_action_and_connection(
    client: Client, merchant: Connection, storefront: Connection, operator: User
) -> None:
    services.connection_delete(connection=storefront, actor=operator)
    event = ConnectionEvent.objects.filter(connection=merchant).get()

    by_action = client.get(EVENTS, {"action__exact": "deleted"})
    by_connection = client.get(EVENTS, {"connection_uid": str(storefront.uid)})
    detail = client.get(f"{EVENTS}{event.pk}/change/")

    assert by_action.context["cl"].result_count == 1
    assert by_connection.context["cl"].result_count == 2  # created and deleted, kept after delete
    assert "(deleted)" in html_of(by_connection)
    assert detail.status_code == 200
    assert "Created as a Merchant connection." in html_of(detail)
    assert 'name="summary"' not in html_of(detail)
    assert 'name="details"' not in html_of(detail)
    assert client.get(f"{EVENTS}add/").status_code == 403
    assert client.post(f"{EVENTS}{event.pk}/change/", {"summary": "edited"}).status_code == 403
    assert client.post(f"{EVENTS}{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert ConnectionEvent.objects.get(pk=event.pk).summary == "Created as a Merchant connection."
    for response in (by_action, by_connection, detail):
        assert_no_secret(response)


# --- Read-only staff -----------------------------------------------------------


def test_staff_without_change_permission_see_read_only_pages_without_secret_inputs(
    viewer: User, merchant: Connection
) -> None:
    client = client_for(viewer)

    listing = client.get(LIST)
    page = client.get(change_url(merchant))

    assert listing.status_code == 200
    assert "test_selected" not in html_of(listing)
    assert page.status_code == 200
    body = html_of(page)
    assert "View connection" in body
    assert secret_inputs(page) == []
    assert 'name="api_key"' not in body
    assert 'name="user_id"' not in body
    assert merchant.api_key_fingerprint in body
    assert USER_ID in body
    assert "Test connection" not in body
    assert "Created as a Merchant connection." in body  # the history inline
    assert_no_secret(listing)
    assert_no_secret(page)


def test_staff_without_change_permission_cannot_change_anything(
    viewer: User, merchant: Connection, okendo
) -> None:
    client = client_for(viewer)
    before = snapshot()

    responses = [
        client.post(change_url(merchant), merchant_post(name="Hijacked", api_key=API_KEY_2)),
        client.post(change_url(merchant), merchant_post(api_type="storefront", _change_type="1")),
        client.post(f"{LIST}{merchant.pk}/test/"),
        client.post(f"{LIST}{merchant.pk}/delete/", {"post": "yes"}),
        client.post(ADD, merchant_post(name="New")),
        client.get(ADD),
    ]
    action = client.post(
        LIST, {"action": "test_selected", "_selected_action": [merchant.pk]}, follow=True
    )

    assert [r.status_code for r in responses] == [403] * len(responses)
    assert action.status_code == 200
    assert snapshot() == before
    assert okendo.requests == []


# --- Every page at once -----------------------------------------------------------


def test_no_admin_page_contains_a_secret_or_ciphertext(
    client: Client, merchant: Connection, storefront: Connection
) -> None:
    client.post(change_url(merchant), merchant_post(api_key=API_KEY_2))
    client.post(change_url(storefront), storefront_post(password=PASSWORD_2))
    pages = [
        LIST,
        f"{LIST}?q=EU",
        ADD,
        f"{ADD}?api_type=storefront",
        change_url(merchant),
        change_url(storefront),
        f"{change_url(merchant)}?api_type=storefront",
        f"{LIST}{merchant.pk}/history/",
        f"{LIST}{storefront.pk}/history/",
        f"{LIST}{merchant.pk}/delete/",
        EVENTS,
        "/admin/",
        "/admin/connections/",
    ]
    responses = [client.get(page) for page in pages]
    responses.append(
        client.post(
            LIST, {"action": "delete_selected", "_selected_action": [merchant.pk, storefront.pk]}
        )
    )
    responses.append(client.post(change_url(merchant), merchant_post(api_key="")))

    assert [r.status_code for r in responses] == [200] * len(responses)
    for response in responses:
        assert_no_secret(response)
    for entry in LogEntry.objects.all():
        for value in forbidden_strings():
            assert value not in entry.change_message
            assert value not in entry.object_repr
