"""The test services: typed credentials, saved connections, recorded health and history."""

from __future__ import annotations

import base64
import json
import logging
import os
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from connections import services
from connections.models import Connection, ConnectionEvent
from connections.okendo import Outcome
from connections.ratelimit import ConnectionTestInProgress, connection_test_lock
from connections.sensitive import Secret
from tests.factories import OTHER_ENCRYPTION_KEY, okendo_connection, save_connection, script_answer
from tests.fake_okendo import StillClock

pytestmark = pytest.mark.django_db


@pytest.fixture
def merchant(okendo):
    return okendo_connection(okendo)


@pytest.fixture
def storefront(okendo):
    return okendo_connection(okendo, api_type="storefront")


@pytest.fixture
def tester(django_user_model):
    return django_user_model.objects.create_user("tester", password="NOT-A-REAL-PASSWORD-1")


def everything_stored(connection):
    connection.refresh_from_db()
    events = list(ConnectionEvent.objects.filter(connection_uid=connection.uid).values())
    fields = {f.attname: getattr(connection, f.attname) for f in Connection._meta.fields}
    fields.pop("api_key_encrypted")
    fields.pop("password_encrypted")
    return json.dumps({"connection": fields, "events": events}, default=str)


# --- Saved connections ----------------------------------------------------------


def test_ok_marks_the_connection_online_and_records_the_test(okendo, merchant, tester):
    result = services.connection_test(connection=merchant, actor=tester)

    assert result.outcome is Outcome.OK
    merchant.refresh_from_db()
    assert merchant.status == Connection.Status.ONLINE
    assert merchant.last_tested_at is not None
    assert merchant.last_test_outcome == "ok"
    assert merchant.last_test_message == result.message
    assert merchant.last_test_http_status == 200
    assert merchant.last_test_elapsed_ms == result.elapsed_ms
    [event] = ConnectionEvent.objects.filter(connection=merchant)
    assert event.action == ConnectionEvent.Action.TESTED
    assert event.actor == tester
    assert event.actor_name == "tester"
    assert event.connection_name == merchant.name
    assert event.details == {"outcome": "ok", "http_status": 200, "elapsed_ms": result.elapsed_ms}
    assert event.summary == f"Tested: ok (HTTP 200, {result.elapsed_ms} ms)"


def test_connection_instance_is_updated_in_place(okendo, merchant):
    services.connection_test(connection=merchant, actor=None)

    assert merchant.status == Connection.Status.ONLINE
    assert merchant.last_test_outcome == "ok"


def test_storefront_ok_marks_online_and_says_the_password_was_not_checked(okendo, storefront):
    result = services.connection_test(connection=storefront, actor=None)

    storefront.refresh_from_db()
    assert storefront.status == Connection.Status.ONLINE
    assert "does not verify the password" in storefront.last_test_message
    assert okendo.requests[0].path == f"/v1/stores/{okendo.store_id}/reviews"
    assert okendo.requests[0].basic_auth() == (okendo.store_id, okendo.password)
    assert result.ok


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(401, "auth_failed"), (403, "forbidden"), (404, "not_found")],
)
def test_refused_credentials_mark_the_connection_offline(okendo, status, outcome):
    connection = save_connection(
        account_id=okendo.user_id, secret=okendo.api_key, status=Connection.Status.ONLINE
    )
    okendo.respond(status)

    result = services.connection_test(connection=connection, actor=None)

    connection.refresh_from_db()
    assert result.outcome == outcome
    assert connection.status == Connection.Status.OFFLINE
    assert connection.last_test_outcome == outcome
    assert connection.last_test_http_status == status


@pytest.mark.parametrize("previous", [Connection.Status.ONLINE, Connection.Status.OFFLINE])
@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        ("429", "rate_limited"),
        ("500", "unavailable"),
        ("503", "unavailable"),
        ("slow", "unavailable"),
        ("reset", "unavailable"),
        ("400", "unexpected"),
        ("large", "unexpected"),
        ("not-json", "unexpected"),
    ],
)
def test_answers_that_say_nothing_about_the_credentials_leave_the_status_alone(
    okendo, previous, answer, outcome
):
    connection = save_connection(account_id=okendo.user_id, secret=okendo.api_key, status=previous)
    script_answer(okendo, answer)

    result = services.connection_test(connection=connection, actor=None)

    connection.refresh_from_db()
    assert result.outcome == outcome
    assert connection.status == previous
    assert connection.last_test_outcome == outcome
    assert connection.last_test_message == result.message
    assert ConnectionEvent.objects.get(connection=connection).details["outcome"] == outcome


def test_okendo_out_of_reach_leaves_the_status_alone(okendo_down):
    connection = save_connection(
        account_id=okendo_down.user_id,
        secret=okendo_down.api_key,
        status=Connection.Status.ONLINE,
    )

    result = services.connection_test(connection=connection, actor=None)

    connection.refresh_from_db()
    assert result.outcome is Outcome.UNAVAILABLE
    assert result.http_status is None
    assert connection.status == Connection.Status.ONLINE
    assert connection.last_test_http_status is None
    event = ConnectionEvent.objects.get(connection=connection)
    assert event.summary == f"Tested: unavailable ({result.elapsed_ms} ms)"


def test_secret_that_cannot_be_decrypted_is_misconfigured_never_sent_and_leaves_status(
    okendo, merchant, settings, caplog
):
    Connection.objects.filter(pk=merchant.pk).update(status=Connection.Status.ONLINE)
    ciphertext = merchant.api_key_encrypted
    # The old key is gone, not a fallback.
    settings.CONNECTIONS_ENCRYPTION_KEY = OTHER_ENCRYPTION_KEY
    caplog.set_level(logging.INFO)

    result = services.connection_test(connection=merchant, actor=None)

    assert result.outcome is Outcome.MISCONFIGURED
    assert "cannot decrypt the saved API key" in result.message
    assert "CONNECTIONS_ENCRYPTION_KEY_FALLBACKS" in result.message
    assert okendo.requests == []
    merchant.refresh_from_db()
    # A key problem on this server says nothing about the credentials.
    assert merchant.status == Connection.Status.ONLINE
    assert "status is unchanged" in result.message
    assert merchant.last_test_outcome == "misconfigured"
    assert ConnectionEvent.objects.get(connection=merchant).details["outcome"] == "misconfigured"
    assert ciphertext.split(":")[2] not in caplog.text
    assert okendo.api_key not in caplog.text
    assert "test1" in caplog.text  # names the missing key id, for the operator


def test_ciphertext_copied_from_another_row_is_misconfigured_as_altered(okendo, merchant, caplog):
    other = save_connection(account_id=okendo.user_id, secret="sk_test_NOT_A_REAL_KEY_other0001")
    Connection.objects.filter(pk=merchant.pk).update(
        api_key_encrypted=other.api_key_encrypted, status=Connection.Status.OFFLINE
    )
    merchant.refresh_from_db()

    result = services.connection_test(connection=merchant, actor=None)

    assert result.outcome is Outcome.MISCONFIGURED
    assert okendo.requests == []
    assert "copied from another row or field" in caplog.text  # the key matches: the value moved
    assert "wrong key material" not in caplog.text
    merchant.refresh_from_db()
    assert merchant.status == Connection.Status.OFFLINE  # as it was


def test_same_key_id_with_new_material_is_wrong_key_material_and_nobody_goes_offline(
    okendo, settings, caplog
):
    # Issue 12's case: CONNECTIONS_ENCRYPTION_KEY keeps its id, with 32 new random bytes.
    online = okendo_connection(okendo, status=Connection.Status.ONLINE)
    untested = okendo_connection(okendo, api_type="storefront")
    settings.CONNECTIONS_ENCRYPTION_KEY = "test1:" + base64.b64encode(os.urandom(32)).decode()
    caplog.set_level(logging.INFO)

    results = [
        services.connection_test(connection=connection, actor=None)
        for connection in (online, untested)
    ]

    assert [result.outcome for result in results] == [Outcome.MISCONFIGURED] * 2
    assert okendo.requests == []
    assert "encryption key test1 configured on this server is not the key" in results[0].message
    assert "wrong key material for key id 'test1'" in caplog.text
    assert "altered" not in caplog.text
    assert "copied from another row" not in caplog.text
    online.refresh_from_db()
    untested.refresh_from_db()
    assert online.status == Connection.Status.ONLINE
    assert untested.status == Connection.Status.UNTESTED
    assert online.last_test_outcome == untested.last_test_outcome == "misconfigured"
    assert ConnectionEvent.objects.filter(action="tested").count() == 2


def test_refused_okendo_address_is_misconfigured_and_leaves_status(okendo, merchant, settings):
    # Issue 12's case: DEBUG off and a plain http:// address that is not loopback.
    Connection.objects.filter(pk=merchant.pk).update(status=Connection.Status.ONLINE)
    settings.DEBUG = False
    settings.OKENDO_API_BASE_URL = "http://api.okendo.io"

    result = services.connection_test(connection=merchant, actor=None)

    assert result.outcome is Outcome.MISCONFIGURED
    assert "OKENDO_API_BASE_URL" in result.message
    merchant.refresh_from_db()
    assert merchant.status == Connection.Status.ONLINE
    assert merchant.last_test_outcome == "misconfigured"


def test_missing_secret_is_misconfigured_and_says_what_to_enter(okendo, storefront):
    storefront.clear_secret("password")
    storefront.save()

    result = services.connection_test(connection=storefront, actor=None)

    assert result.outcome is Outcome.MISCONFIGURED
    assert result.message == (
        "Not tested: no Password is saved for this connection. "
        "Edit the connection and enter the Password."
    )
    assert okendo.requests == []
    storefront.refresh_from_db()
    assert storefront.status == Connection.Status.OFFLINE  # the connection's own values


def test_saved_user_id_that_is_not_a_uuid_is_refused_before_sending(okendo):
    connection = save_connection(account_id="../../v1/admin", secret=okendo.api_key)

    result = services.connection_test(connection=connection, actor=None)

    assert result.outcome is Outcome.MISCONFIGURED
    assert okendo.requests == []
    connection.refresh_from_db()
    assert connection.status == Connection.Status.OFFLINE


def test_second_test_of_a_connection_cannot_start_while_one_runs(okendo, merchant):
    with connection_test_lock(str(merchant.uid)), pytest.raises(ConnectionTestInProgress):
        services.connection_test(connection=merchant, actor=None)

    assert okendo.requests == []
    assert not ConnectionEvent.objects.filter(connection=merchant).exists()
    services.connection_test(connection=merchant, actor=None)  # free again afterwards
    assert len(okendo.requests) == 1


def test_result_is_not_applied_when_credentials_changed_during_the_test(okendo, merchant):
    loaded_before_the_change = Connection.objects.get(pk=merchant.pk)
    merchant.set_api_key("sk_test_NOT_A_REAL_KEY_newer0001")
    merchant.status = Connection.Status.OFFLINE
    merchant.save()

    result = services.connection_test(connection=loaded_before_the_change, actor=None)

    assert result.ok  # the old key still works at Okendo
    merchant.refresh_from_db()
    assert merchant.status == Connection.Status.OFFLINE
    assert merchant.last_tested_at is None
    event = ConnectionEvent.objects.get(connection=merchant)
    assert "credentials changed during the test, status not updated" in event.summary


def test_connection_deleted_during_the_test_records_nothing(okendo, merchant):
    Connection.objects.filter(pk=merchant.pk).delete()

    result = services.connection_test(connection=merchant, actor=None)

    assert result.ok
    assert not ConnectionEvent.objects.exists()


def test_tests_of_the_same_account_are_spaced_by_the_rate_limiter(monkeypatch, okendo, merchant):
    okendo.clock = StillClock()  # the waits, not the machine's speed, decide
    monkeypatch.setattr(services, "clock", okendo.clock)
    services.connection_test(connection=merchant, actor=None)
    services.connection_test(connection=merchant, actor=None)

    assert len(okendo.clock.sleeps) == 1
    assert 0 < okendo.clock.sleeps[0] <= 0.5
    assert len(okendo.requests) == 2


def test_no_secret_reaches_the_database_history_or_logs(okendo, merchant, storefront, caplog):
    caplog.set_level(logging.DEBUG)
    okendo.respond(400, json_body={"error": {"description": f"echo {okendo.api_key}"}})

    services.connection_test(connection=merchant, actor=None)
    services.connection_test(connection=storefront, actor=None)

    for connection in (merchant, storefront):
        stored = everything_stored(connection)
        assert okendo.api_key not in stored
        assert okendo.password not in stored
    assert okendo.api_key not in caplog.text
    assert okendo.password not in caplog.text
    assert "Authorization" not in caplog.text


# --- Typed credentials ----------------------------------------------------------


def test_credentials_test_checks_typed_values_without_saving_anything(okendo):
    result = services.credentials_test(
        api_type="merchant", account_id=okendo.user_id, secret=okendo.api_key
    )

    assert result.outcome is Outcome.OK
    assert okendo.requests[0].basic_auth() == (okendo.user_id, okendo.api_key)
    assert not Connection.objects.exists()
    assert not ConnectionEvent.objects.exists()


def test_credentials_test_reports_wrong_values(okendo):
    result = services.credentials_test(
        api_type="merchant",
        account_id=okendo.user_id,
        secret=Secret("sk_test_NOT_A_REAL_KEY_wrong0001"),
    )

    assert result.outcome is Outcome.AUTH_FAILED
    assert "sk_test_NOT_A_REAL_KEY_wrong0001" not in result.message


def test_credentials_test_of_a_storefront_uses_the_username_as_store(okendo):
    result = services.credentials_test(
        api_type="storefront", account_id=okendo.store_id, secret=okendo.password
    )

    assert result.ok
    assert okendo.requests[0].path == f"/v1/stores/{okendo.store_id}/reviews"


@pytest.mark.parametrize(("api_type", "account_id"), [("merchant", "nope"), ("ftp", None)])
def test_credentials_test_refuses_values_that_cannot_make_a_request(okendo, api_type, account_id):
    result = services.credentials_test(
        api_type=api_type, account_id=account_id or okendo.user_id, secret=okendo.api_key
    )

    assert result.outcome is Outcome.MISCONFIGURED
    assert okendo.requests == []


def test_credentials_test_reaches_nothing_when_okendo_is_down(okendo_down):
    result = services.credentials_test(
        api_type="merchant", account_id=okendo_down.user_id, secret=okendo_down.api_key
    )

    assert result.outcome is Outcome.UNAVAILABLE


# --- Okendo's words are scrubbed before they are kept or shown --------------------

ECHOED_KEY = "NOTrealKEY0123456789abcdefGHIJKL"  # 32 characters, like Okendo's API keys
# Issue 12's case: about 180 characters, then the key; the old code cut the text at
# 200 characters before looking for the key, and kept its first 19 characters.
ECHO = (
    "This request could not be authorised for the reviews resource because the account "
    "does not allow the enterprise API for the credentials given in the request made to "
    "Okendo api key={secret} end"
)


def key_runs(text, secret=ECHOED_KEY):
    folded = text.casefold()
    return {
        secret[i : i + 8] for i in range(len(secret) - 7) if secret[i : i + 8].casefold() in folded
    }


def test_key_echoed_by_okendo_is_never_kept_or_shown(okendo, django_user_model):
    connection = save_connection(account_id=okendo.user_id, secret=ECHOED_KEY)
    okendo.respond(403, json_body={"error": {"description": ECHO}}, echo=True, times=3)
    admin = django_user_model.objects.create_superuser("root", password=None)
    client = Client()
    client.force_login(admin)

    result = services.connection_test(connection=connection, actor=None)
    answer = client.post(f"/connections/{connection.pk}/test/", HTTP_HX_REQUEST="true")
    printed = StringIO()
    with pytest.raises(CommandError):
        call_command("test_connections", str(connection.pk), "-v", "2", stdout=printed)

    assert okendo.requests[0].basic_auth() == (okendo.user_id, ECHOED_KEY)
    assert "api key=[redacted] end" in result.message
    connection.refresh_from_db()
    assert "api key=[redacted] end" in connection.last_test_message
    shown = {
        "result": result.message,
        "stored": everything_stored(connection),
        "htmx answer": answer.content.decode(),
        "detail page": client.get(f"/connections/{connection.pk}/").content.decode(),
        "admin page": client.get(
            f"/admin/connections/connection/{connection.pk}/change/"
        ).content.decode(),
        "test_connections -v 2": printed.getvalue(),
    }
    assert "api key=[redacted] end" in shown["detail page"]
    assert [place for place, text in shown.items() if key_runs(text)] == []
