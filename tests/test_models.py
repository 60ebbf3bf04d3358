"""The Connection model's secrets: ciphertext at rest, bound to row and field, re-keyed on save."""

from __future__ import annotations

import pickle

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.forms.models import model_to_dict
from django.test import override_settings

from connections import keyring
from connections.keyring import AuthenticationFailed, Keyring, UnknownKeyId
from connections.models import Connection, SecretNotSet
from connections.sensitive import Secret
from tests.factories import fake_key
from tests.factories import key_spec as spec

API_KEY = "sk_test_NOT_A_REAL_KEY_000000001"
PASSWORD = "pw_test_NOT_A_REAL_PASSWORD_0002"
USER_ID = "00000000-0000-0000-0000-000000000000"


OLD = fake_key("old1")
NEW = fake_key("new2")

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    return User.objects.create(username="alice")  # no password: hashing one costs ~0.5 s


def merchant(name: str = "Shop", api_key: str = API_KEY, by=None) -> Connection:
    connection = Connection(name=name, api_type=Connection.ApiType.MERCHANT, user_id=USER_ID)
    connection.set_api_key(api_key, by=by)
    connection.save()
    return connection


def storefront(name: str = "Store", password: str = PASSWORD) -> Connection:
    connection = Connection(name=name, api_type=Connection.ApiType.STOREFRONT, username=USER_ID)
    connection.set_password(password)
    connection.save()
    return connection


def test_api_key_is_stored_as_ciphertext_only(alice):
    connection = merchant(by=alice)

    stored = Connection.objects.values_list("api_key_encrypted", flat=True).get(pk=connection.pk)
    assert stored.startswith("enc1:test1:")
    assert API_KEY not in stored
    assert API_KEY[8:20] not in stored


def test_api_key_reads_back_as_secret_after_reload():
    connection = merchant()

    secret = Connection.objects.get(pk=connection.pk).get_api_key()

    assert isinstance(secret, Secret)
    assert secret.reveal() == API_KEY


def test_password_reads_back_as_secret_after_reload():
    connection = storefront()

    assert Connection.objects.get(pk=connection.pk).get_password().reveal() == PASSWORD


def test_set_records_fingerprint_time_and_author(alice):
    connection = merchant(by=alice)
    connection.refresh_from_db()

    assert connection.api_key_fingerprint == keyring.fingerprint(API_KEY)
    assert connection.api_key_set_at is not None
    assert connection.api_key_set_by == alice
    assert connection.password_set_at is None


@pytest.mark.parametrize("by", [None, AnonymousUser()])
def test_set_without_a_signed_in_user_records_no_author(by):
    connection = merchant(by=by)

    assert connection.api_key_set_by is None
    assert connection.api_key_set_at is not None


def test_same_secret_gets_same_fingerprint_but_different_ciphertext():
    first = merchant("One")
    second = merchant("Two")
    third = merchant("Three", api_key=API_KEY.replace("1", "2"))

    assert first.api_key_fingerprint == second.api_key_fingerprint
    assert first.api_key_encrypted != second.api_key_encrypted
    assert third.api_key_fingerprint != first.api_key_fingerprint


def test_has_secret_and_clear_secret(alice):
    connection = merchant(by=alice)
    assert connection.has_secret("api_key")
    assert not connection.has_secret("password")

    connection.clear_secret("api_key")
    connection.save()
    connection.refresh_from_db()

    assert not connection.has_secret("api_key")
    assert connection.api_key_encrypted == ""
    assert connection.api_key_fingerprint == ""
    assert connection.api_key_set_at is None
    assert connection.api_key_set_by is None


def test_get_unset_secret_raises_secret_not_set():
    connection = merchant()

    with pytest.raises(SecretNotSet, match=r"connections\.Connection\.password") as excinfo:
        connection.get_password()

    assert str(connection.uid) in str(excinfo.value)


def test_empty_secret_is_refused():
    connection = Connection(name="Empty", api_type=Connection.ApiType.MERCHANT)

    with pytest.raises(ValueError, match="clear_secret"):
        connection.set_api_key("")

    assert not connection.has_secret("api_key")


def test_set_accepts_a_secret_wrapper():
    connection = Connection(name="Wrapped", api_type=Connection.ApiType.MERCHANT)
    connection.set_api_key(Secret(API_KEY))
    connection.save()

    assert Connection.objects.get(pk=connection.pk).get_api_key().reveal() == API_KEY


def test_value_copied_to_another_row_fails_to_decrypt():
    source = merchant("Source")
    target = merchant("Target", api_key="sk_test_NOT_A_REAL_KEY_000000099")
    Connection.objects.filter(pk=target.pk).update(api_key_encrypted=source.api_key_encrypted)

    with pytest.raises(AuthenticationFailed) as excinfo:
        Connection.objects.get(pk=target.pk).get_api_key()

    assert str(target.uid) in str(excinfo.value)
    assert "connections.Connection.api_key" in str(excinfo.value)


def test_value_copied_to_another_field_fails_to_decrypt():
    connection = merchant()
    Connection.objects.filter(pk=connection.pk).update(
        password_encrypted=connection.api_key_encrypted
    )

    with pytest.raises(AuthenticationFailed, match=r"connections\.Connection\.password"):
        Connection.objects.get(pk=connection.pk).get_password()


def test_value_under_a_key_no_longer_configured_names_the_key():
    with override_settings(CONNECTIONS_ENCRYPTION_KEY=spec(OLD)):
        connection = merchant()

    with pytest.raises(UnknownKeyId, match="'old1'") as excinfo:
        Connection.objects.get(pk=connection.pk).get_api_key()

    assert API_KEY not in str(excinfo.value)


# --- Fallback keys and re-encryption on save --------------------------------------


def test_fallback_read_then_save_reencrypts_under_current_key(alice):
    with override_settings(CONNECTIONS_ENCRYPTION_KEY=spec(OLD)):
        connection = merchant(by=alice)
    set_at = Connection.objects.get(pk=connection.pk).api_key_set_at

    with override_settings(
        CONNECTIONS_ENCRYPTION_KEY=spec(NEW), CONNECTIONS_ENCRYPTION_KEY_FALLBACKS=[spec(OLD)]
    ):
        loaded = Connection.objects.get(pk=connection.pk)
        assert loaded.get_api_key().reveal() == API_KEY
        assert keyring.key_id_of(loaded.api_key_encrypted) == "old1"

        loaded.name = "Shop renamed"
        loaded.save()

        stored = Connection.objects.get(pk=connection.pk)
        assert keyring.key_id_of(stored.api_key_encrypted) == "new2"
        assert stored.api_key_fingerprint == keyring.fingerprint(API_KEY)
        assert stored.api_key_set_at == set_at
        assert stored.api_key_set_by == alice

    # The old key is no longer needed for this row.
    with override_settings(CONNECTIONS_ENCRYPTION_KEY=spec(NEW)):
        assert Connection.objects.get(pk=connection.pk).get_api_key().reveal() == API_KEY


def test_fallback_reencryption_joins_update_fields():
    with override_settings(CONNECTIONS_ENCRYPTION_KEY=spec(OLD)):
        connection = storefront()

    with override_settings(
        CONNECTIONS_ENCRYPTION_KEY=spec(NEW), CONNECTIONS_ENCRYPTION_KEY_FALLBACKS=[spec(OLD)]
    ):
        loaded = Connection.objects.get(pk=connection.pk)
        loaded.get_password()
        loaded.status = Connection.Status.ONLINE
        loaded.save(update_fields=["status"])

        stored = Connection.objects.get(pk=connection.pk)
        assert keyring.key_id_of(stored.password_encrypted) == "new2"
        assert stored.password_fingerprint == keyring.fingerprint(PASSWORD)
        assert stored.status == Connection.Status.ONLINE


def test_save_leaves_values_under_current_key_untouched():
    connection = merchant()
    stored = connection.api_key_encrypted
    connection.get_api_key()

    connection.save()

    assert Connection.objects.get(pk=connection.pk).api_key_encrypted == stored


def test_save_does_not_bring_back_a_secret_replaced_since_it_was_read():
    with override_settings(CONNECTIONS_ENCRYPTION_KEY=spec(OLD)):
        connection = merchant()

    with override_settings(
        CONNECTIONS_ENCRYPTION_KEY=spec(NEW), CONNECTIONS_ENCRYPTION_KEY_FALLBACKS=[spec(OLD)]
    ):
        stale = Connection.objects.get(pk=connection.pk)
        stale.get_api_key()  # read under the fallback: would be re-encrypted on save
        elsewhere = Connection.objects.get(pk=connection.pk)
        elsewhere.set_api_key("sk_test_NOT_A_REAL_KEY_REPLACED1")
        elsewhere.save()

        stale.refresh_from_db()
        stale.save()

        assert (
            Connection.objects.get(pk=connection.pk).get_api_key().reveal()
            == "sk_test_NOT_A_REAL_KEY_REPLACED1"
        )


def test_setting_a_new_value_cancels_the_pending_reencryption():
    with override_settings(CONNECTIONS_ENCRYPTION_KEY=spec(OLD)):
        connection = merchant()

    with override_settings(
        CONNECTIONS_ENCRYPTION_KEY=spec(NEW), CONNECTIONS_ENCRYPTION_KEY_FALLBACKS=[spec(OLD)]
    ):
        loaded = Connection.objects.get(pk=connection.pk)
        loaded.get_api_key()
        loaded.set_api_key("sk_test_NOT_A_REAL_KEY_NEWER_001")
        loaded.save()

        assert (
            Connection.objects.get(pk=connection.pk).get_api_key().reveal()
            == "sk_test_NOT_A_REAL_KEY_NEWER_001"
        )


# --- Nothing readable leaves the model -------------------------------------------


def test_pickled_connection_carries_no_plaintext():
    with override_settings(CONNECTIONS_ENCRYPTION_KEY=spec(OLD)):
        connection = merchant()
    with override_settings(
        CONNECTIONS_ENCRYPTION_KEY=spec(NEW), CONNECTIONS_ENCRYPTION_KEY_FALLBACKS=[spec(OLD)]
    ):
        loaded = Connection.objects.get(pk=connection.pk)
        loaded.get_api_key()  # keeps the plaintext for re-encryption on save

        data = pickle.dumps(loaded)
        copy = pickle.loads(data)  # noqa: S301 - our own bytes

    assert API_KEY.encode() not in data
    assert copy.api_key_encrypted == loaded.api_key_encrypted
    assert copy._stale_secrets == {}


def test_str_repr_and_model_to_dict_show_no_plaintext():
    connection = merchant()
    connection.get_api_key()

    text = f"{connection} {connection!r} {model_to_dict(connection)} {vars(connection)}"

    assert API_KEY not in text


def test_rows_encrypted_under_an_explicit_keyring_read_back_through_settings():
    # What bulk loaders (and the rotation tests) do: encrypt without a model instance.
    connection = Connection(name="Bulk", api_type=Connection.ApiType.MERCHANT)
    ring = Keyring(current=keyring.get_keyring().current)
    connection.api_key_encrypted = keyring.encrypt(
        API_KEY, connection._binding("api_key"), keyring=ring
    )
    connection.save()

    assert Connection.objects.get(pk=connection.pk).get_api_key().reveal() == API_KEY
