"""Services: create, update and delete write one transaction and one history event each."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied, ValidationError

from connections import services
from connections.models import Connection, ConnectionEvent
from connections.sensitive import Secret
from connections.services import ConnectionData
from tests.factories import API_KEY, API_KEY_2, PASSWORD, STORE_ID, USER_ID, make_user

pytestmark = pytest.mark.django_db

USER_ID_2 = "3e0f2d5a-5b7c-4f60-9c79-4b2e0a1d8f43"


def merchant_data(**overrides) -> ConnectionData:
    values = {
        "name": "EU reviews",
        "api_type": "merchant",
        "account_id": USER_ID,
        "secret": Secret(API_KEY),
    }
    return ConnectionData(**{**values, **overrides})


def storefront_data(**overrides) -> ConnectionData:
    values = {
        "name": "EU reviews",
        "api_type": "storefront",
        "account_id": STORE_ID,
        "secret": Secret(PASSWORD),
    }
    return ConnectionData(**{**values, **overrides})


def user_with(username: str, *actions: str) -> User:
    user = make_user(username, *actions)
    return User.objects.get(pk=user.pk)  # fresh: no cached permissions


@pytest.fixture
def alice() -> User:
    return user_with("alice", "view", "add", "change", "delete")


@pytest.fixture
def bob() -> User:
    return user_with("bob", "view", "change")


@pytest.fixture
def merchant(alice: User) -> Connection:
    return services.connection_create(actor=alice, data=merchant_data())


def updated_event(connection: Connection) -> ConnectionEvent:
    return ConnectionEvent.objects.filter(connection=connection, action="updated").latest("id")


# --- Create ---------------------------------------------------------------------


def test_create_stores_encrypted_secret_and_who_set_it(alice: User) -> None:
    connection = services.connection_create(actor=alice, data=merchant_data())

    connection = Connection.objects.get(pk=connection.pk)
    assert connection.user_id == USER_ID
    assert connection.api_key_encrypted.startswith("enc1:")
    assert API_KEY not in connection.api_key_encrypted
    assert connection.get_api_key() == Secret(API_KEY)
    assert connection.api_key_set_by == alice
    assert connection.created_by == alice
    assert connection.status == Connection.Status.UNTESTED


def test_create_records_a_created_event_without_values(alice: User) -> None:
    connection = services.connection_create(actor=alice, data=storefront_data())

    event = ConnectionEvent.objects.get()
    assert event.connection == connection
    assert event.connection_uid == connection.uid
    assert event.connection_name == "EU reviews"
    assert (event.action, event.actor, event.actor_name) == ("created", alice, "alice")
    assert event.summary == "Created as a Storefront connection."
    assert event.details == {"api_type": "storefront", "secrets_set": ["password"]}
    assert PASSWORD not in str(event.details) + event.summary


def test_create_needs_the_add_permission(bob: User) -> None:
    with pytest.raises(PermissionDenied):
        services.connection_create(actor=bob, data=merchant_data())

    assert Connection.objects.count() == 0
    assert ConnectionEvent.objects.count() == 0


def test_anonymous_actor_is_refused() -> None:
    with pytest.raises(PermissionDenied):
        services.connection_create(actor=AnonymousUser(), data=merchant_data())


def test_create_with_a_taken_name_raises_a_field_error_and_writes_nothing(
    alice: User, merchant: Connection
) -> None:
    # Skipping the form, as a race between two saves would: the constraint decides.
    with pytest.raises(ValidationError) as raised:
        services.connection_create(actor=alice, data=merchant_data(name="eu REVIEWS"))

    assert raised.value.message_dict == {
        "name": ["A connection named “eu REVIEWS” already exists. Choose another name."]
    }
    assert Connection.objects.count() == 1
    assert ConnectionEvent.objects.count() == 1


# --- Update ---------------------------------------------------------------------


def test_update_records_changed_fields_and_replaced_secret(bob: User, merchant: Connection) -> None:
    services.connection_update(
        connection=merchant,
        actor=bob,
        data=merchant_data(name="Renamed", account_id=USER_ID_2, secret=Secret(API_KEY_2)),
    )

    merchant.refresh_from_db()
    assert (merchant.name, merchant.user_id) == ("Renamed", USER_ID_2)
    assert merchant.get_api_key() == Secret(API_KEY_2)
    assert merchant.api_key_set_by == bob
    event = updated_event(merchant)
    assert (event.actor, event.connection_name) == (bob, "Renamed")
    assert event.details == {
        "changed": ["name", "user_id"],
        "secrets_replaced": True,
        "erased": [],
    }
    assert event.summary == "Changed the name and User ID; replaced the API key."


def test_update_with_the_same_secret_keeps_its_metadata(bob: User, merchant: Connection) -> None:
    before = Connection.objects.get(pk=merchant.pk)

    services.connection_update(connection=merchant, actor=bob, data=merchant_data(name="New"))

    after = Connection.objects.get(pk=merchant.pk)
    assert after.api_key_encrypted == before.api_key_encrypted
    assert after.api_key_set_by_id == before.api_key_set_by_id
    assert after.api_key_set_at == before.api_key_set_at
    event = updated_event(merchant)
    assert event.details["secrets_replaced"] is False
    assert event.summary == "Changed the name."


def test_update_without_changes_says_so(bob: User, merchant: Connection) -> None:
    services.connection_update(connection=merchant, actor=bob, data=merchant_data())

    event = updated_event(merchant)
    assert event.details == {"changed": [], "secrets_replaced": False, "erased": []}
    assert event.summary == "Saved without changes; the API key was re-entered unchanged."


def test_type_change_erases_the_previous_types_credentials(bob: User, merchant: Connection) -> None:
    services.connection_update(connection=merchant, actor=bob, data=storefront_data())

    merchant.refresh_from_db()
    assert merchant.api_type == "storefront"
    assert merchant.user_id == ""
    assert not merchant.has_secret("api_key")
    assert merchant.api_key_fingerprint == ""
    assert merchant.api_key_set_at is None
    assert merchant.api_key_set_by is None
    assert (merchant.username, merchant.get_password()) == (STORE_ID, Secret(PASSWORD))
    event = updated_event(merchant)
    assert event.details == {
        "changed": ["api_type", "username"],
        "secrets_replaced": False,
        "erased": ["user_id", "api_key"],
        "secrets_set": ["password"],
    }
    # No password was stored before: it is set, not replaced.
    assert event.summary == (
        "Changed the API type from Merchant to Storefront and erased the User ID and API key; "
        "changed the Username; set the password."
    )


def test_type_change_is_one_transaction(bob: User, merchant: Connection, alice: User) -> None:
    services.connection_create(actor=alice, data=storefront_data(name="Taken"))

    with pytest.raises(ValidationError):
        services.connection_update(
            connection=merchant, actor=bob, data=storefront_data(name="TAKEN")
        )

    merchant.refresh_from_db()
    assert merchant.api_type == "merchant"
    assert merchant.get_api_key() == Secret(API_KEY)
    assert merchant.user_id == USER_ID
    assert not ConnectionEvent.objects.filter(action="updated").exists()


def test_changed_credentials_reset_the_last_test(bob: User, merchant: Connection) -> None:
    Connection.objects.filter(pk=merchant.pk).update(
        status="online", last_test_outcome="ok", last_test_http_status=200, last_test_elapsed_ms=5
    )

    services.connection_update(
        connection=merchant, actor=bob, data=merchant_data(secret=Secret(API_KEY_2))
    )

    merchant.refresh_from_db()
    assert merchant.status == Connection.Status.UNTESTED
    assert (merchant.last_test_outcome, merchant.last_test_http_status) == ("", None)


def test_renaming_keeps_the_last_test(bob: User, merchant: Connection) -> None:
    Connection.objects.filter(pk=merchant.pk).update(status="online", last_test_outcome="ok")

    services.connection_update(connection=merchant, actor=bob, data=merchant_data(name="New"))

    merchant.refresh_from_db()
    assert (merchant.status, merchant.last_test_outcome) == ("online", "ok")


def test_update_compares_with_the_stored_row_not_the_callers_copy(
    bob: User, merchant: Connection
) -> None:
    # A ModelForm writes typed values into its instance before the service runs.
    merchant.name = "Typed into the instance"

    services.connection_update(
        connection=merchant, actor=bob, data=merchant_data(name="Typed into the instance")
    )

    assert updated_event(merchant).details["changed"] == ["name"]


def test_update_bumps_updated_at(bob: User, merchant: Connection) -> None:
    before = Connection.objects.get(pk=merchant.pk).updated_at

    services.connection_update(connection=merchant, actor=bob, data=merchant_data(name="New"))

    assert Connection.objects.get(pk=merchant.pk).updated_at > before


def test_update_needs_the_change_permission(merchant: Connection) -> None:
    viewer = user_with("victor", "view")

    with pytest.raises(PermissionDenied):
        services.connection_update(connection=merchant, actor=viewer, data=merchant_data(name="X"))

    merchant.refresh_from_db()
    assert merchant.name == "EU reviews"


# --- Delete ---------------------------------------------------------------------


def test_delete_keeps_the_history(alice: User, merchant: Connection) -> None:
    uid = merchant.uid

    services.connection_delete(connection=merchant, actor=alice)

    assert not Connection.objects.exists()
    events = list(ConnectionEvent.objects.filter(connection_uid=uid))
    assert [event.action for event in events] == ["deleted", "created"]
    assert all(event.connection_id is None for event in events)
    assert events[0].summary == "Deleted the Merchant connection."
    assert events[0].actor_name == "alice"


def test_delete_needs_the_delete_permission(bob: User, merchant: Connection) -> None:
    with pytest.raises(PermissionDenied):
        services.connection_delete(connection=merchant, actor=bob)

    assert Connection.objects.filter(pk=merchant.pk).exists()
    assert not ConnectionEvent.objects.filter(action="deleted").exists()


def test_connection_data_repr_masks_the_secret() -> None:
    assert API_KEY not in repr(merchant_data())
