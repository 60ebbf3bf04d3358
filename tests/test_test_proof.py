"""A passed test of typed values counts as the connection's first test when exactly they are saved.

The Test connection button hands back a signed, 10-minute token of the passed
test (type, account id, secret fingerprint, result; never the secret). Saving
the same values with it records that test (Online, its time, outcome, elapsed,
a history entry) without asking Okendo again; anything else means Untested.
"""

from __future__ import annotations

import base64
import json
import re
import time

import pytest
from django.contrib.auth.models import User
from django.core import signing
from django.test import Client

from connections import services
from connections.models import Connection, ConnectionEvent
from connections.okendo import CheckResult, Outcome
from connections.sensitive import Secret
from connections.services import ConnectionData
from tests.factories import CONNECTION_ACTIONS, client_for, create_connection, make_user

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
OTHER_KEY = "sk_test_NOT_A_REAL_KEY_other0001"


@pytest.fixture
def editor() -> User:
    return make_user("tess", *CONNECTION_ACTIONS)


@pytest.fixture
def client(editor: User) -> Client:
    return client_for(editor)


def typed(okendo, **extra: str) -> dict[str, str]:
    values = {
        "name": "EU reviews",
        "api_type": "merchant",
        "user_id": okendo.user_id,
        "api_key": okendo.api_key,
    }
    return {**values, **extra}


def proof_in(html: str) -> str:
    found = re.search(
        r'<input type="hidden" name="test_proof" id="test-proof" value="([^"]*)"', html
    )
    assert found, "no test_proof input"
    return found.group(1)


def proof_from_a_typed_test(client: Client, okendo) -> str:
    response = client.post("/connections/test/", typed(okendo), headers=HTMX)
    assert 'data-outcome="ok"' in response.content.decode()
    return proof_in(response.content.decode())


def assert_recorded_first_test(connection: Connection, okendo) -> None:
    connection.refresh_from_db()
    assert connection.status == Connection.Status.ONLINE
    assert connection.last_test_outcome == "ok"
    assert connection.last_test_http_status == 200
    assert connection.last_test_elapsed_ms is not None
    assert connection.last_tested_at is not None
    assert "accepted" in connection.last_test_message
    tested = ConnectionEvent.objects.get(connection=connection, action="tested")
    assert tested.summary.startswith("Tested: ok (HTTP 200, ")
    assert tested.summary.endswith("before saving")
    assert tested.details["tested_before_saving"] is True
    assert len(okendo.requests) == 1  # the typed test only: Okendo was not asked again


def assert_untested(connection: Connection) -> None:
    connection.refresh_from_db()
    assert connection.status == Connection.Status.UNTESTED
    assert connection.last_tested_at is None
    assert not ConnectionEvent.objects.filter(connection=connection, action="tested").exists()


# --- The case of the issue --------------------------------------------------------------


def test_saving_the_tested_values_records_the_test_with_htmx(
    client: Client, editor: User, okendo
) -> None:
    proof = proof_from_a_typed_test(client, okendo)

    response = client.post("/connections/new/", {**typed(okendo), "test_proof": proof})

    assert response.status_code == 302
    connection = Connection.objects.get()
    assert_recorded_first_test(connection, okendo)
    page = client.get(response["Location"]).content.decode()
    assert "The test you ran before saving is recorded as its test" in page


def test_saving_the_tested_values_records_the_test_without_javascript(
    client: Client, okendo
) -> None:
    tested = client.post("/connections/test/", typed(okendo))
    assert tested["Location"] == "/connections/new/"
    form_page = client.get("/connections/new/").content.decode()
    proof = proof_in(form_page)
    assert proof

    # The secret is typed again (never sent back); the proof came with the page.
    client.post("/connections/new/", {**typed(okendo), "test_proof": proof})

    assert_recorded_first_test(Connection.objects.get(), okendo)


def test_editing_with_tested_values_records_the_test(client: Client, editor: User, okendo) -> None:
    connection = create_connection(
        editor, name="EU reviews", account_id=okendo.user_id, secret=OTHER_KEY
    )
    response = client.post(
        f"/connections/test/?connection={connection.pk}", typed(okendo), headers=HTMX
    )
    proof = proof_in(response.content.decode())

    client.post(f"/connections/{connection.pk}/edit/", {**typed(okendo), "test_proof": proof})

    assert_recorded_first_test(connection, okendo)
    assert connection.get_api_key() == Secret(okendo.api_key)


def test_editing_without_javascript_records_the_test(client: Client, editor: User, okendo) -> None:
    connection = create_connection(
        editor, name="EU reviews", account_id=okendo.user_id, secret=OTHER_KEY
    )
    edit = f"/connections/{connection.pk}/edit/"
    tested = client.post(f"/connections/test/?connection={connection.pk}", typed(okendo))
    assert tested["Location"] == edit
    proof = proof_in(client.get(edit).content.decode())

    client.post(edit, {**typed(okendo), "test_proof": proof})

    assert_recorded_first_test(connection, okendo)


def test_saving_without_a_proof_never_claims_a_test(client: Client, editor: User, okendo) -> None:
    connection = create_connection(
        editor, name="EU reviews", account_id=okendo.user_id, secret=okendo.api_key
    )
    client.post(f"/connections/{connection.pk}/test/")  # Online, tested just now

    response = client.post(
        f"/connections/{connection.pk}/edit/", {**typed(okendo), "name": "Renamed"}, follow=True
    )

    assert "Connection “Renamed” saved." in response.content.decode()
    assert "The test you ran before saving" not in response.content.decode()


# --- Anything else is Untested ------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"api_key": OTHER_KEY},
        {"user_id": "2d9e1c4f-4a6b-4e5f-8b68-3a1d9f0c7e32"},
    ],
    ids=["other-secret", "other-user-id"],
)
def test_changed_values_after_the_test_are_untested(
    client: Client, okendo, change: dict[str, str]
) -> None:
    proof = proof_from_a_typed_test(client, okendo)

    client.post("/connections/new/", {**typed(okendo), **change, "test_proof": proof})

    assert_untested(Connection.objects.get())


def test_another_type_with_the_same_values_is_untested(client: Client, okendo) -> None:
    proof = proof_from_a_typed_test(client, okendo)

    client.post(
        "/connections/new/",
        {
            "name": "EU store",
            "api_type": "storefront",
            "username": okendo.user_id,
            "password": okendo.api_key,
            "test_proof": proof,
        },
    )

    assert_untested(Connection.objects.get())


def test_a_proof_older_than_ten_minutes_is_untested(
    client: Client, okendo, monkeypatch: pytest.MonkeyPatch
) -> None:
    proof = proof_from_a_typed_test(client, okendo)
    later = time.time() + services.TEST_PROOF_MAX_AGE_SECONDS + 1
    monkeypatch.setattr("django.core.signing.time.time", lambda: later)

    client.post("/connections/new/", {**typed(okendo), "test_proof": proof})

    assert_untested(Connection.objects.get())


def test_a_forged_or_garbled_proof_is_untested(client: Client, okendo) -> None:
    proof = proof_from_a_typed_test(client, okendo)
    payload = proof.partition(":")[0]
    forged = signing.dumps({"t": "merchant"}, salt="another-salt")

    for number, token in enumerate((proof[:-2] + "xx", forged, "x" * 5000, payload)):
        client.post(
            "/connections/new/", {**typed(okendo), "name": f"Shop {number}", "test_proof": token}
        )

    assert Connection.objects.count() == 4
    for connection in Connection.objects.all():
        assert_untested(connection)


def test_a_failed_test_gives_no_proof_and_clears_an_earlier_one(client: Client, okendo) -> None:
    response = client.post("/connections/test/", typed(okendo, api_key=OTHER_KEY), headers=HTMX)

    html = response.content.decode()
    assert 'data-outcome="auth_failed"' in html
    assert proof_in(html) == ""
    assert 'hx-swap-oob="true"' in html.split('id="test-proof"')[1].split(">")[0]


def test_a_saved_connections_test_sends_no_proof(client: Client, editor: User, okendo) -> None:
    connection = create_connection(
        editor, name="EU reviews", account_id=okendo.user_id, secret=okendo.api_key
    )

    html = client.post(f"/connections/{connection.pk}/test/", headers=HTMX).content.decode()

    assert "test-proof" not in html


def test_the_form_keeps_the_proof_across_a_failed_save(client: Client, okendo) -> None:
    proof = proof_from_a_typed_test(client, okendo)

    failed = client.post("/connections/new/", {**typed(okendo), "name": "", "test_proof": proof})

    assert proof_in(failed.content.decode()) == proof


# --- The token and the services ----------------------------------------------------------


def decoded(token: str) -> str:
    payload = token.split(":")[0]
    if payload.startswith("."):
        payload = payload[1:]
    return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()


def test_the_token_holds_the_fingerprint_and_result_never_the_secret(okendo) -> None:
    result = CheckResult(Outcome.OK, "Okendo accepted these.", 200, 42)

    token = services.credentials_test_proof(
        api_type="merchant", account_id=okendo.user_id, secret=okendo.api_key, result=result
    )

    payload = json.loads(decoded(token))
    assert okendo.api_key not in token
    assert okendo.api_key not in json.dumps(payload)
    assert payload["t"] == "merchant"
    assert payload["a"] == okendo.user_id
    assert (payload["o"], payload["s"], payload["e"]) == ("ok", 200, 42)
    assert len(payload["f"]) < len(okendo.api_key)


def test_only_a_passed_test_gives_a_token(okendo) -> None:
    for outcome in Outcome:
        if outcome is Outcome.OK:
            continue
        result = CheckResult(outcome, "No.", 401, 5)
        assert (
            services.credentials_test_proof(
                api_type="merchant", account_id=okendo.user_id, secret=okendo.api_key, result=result
            )
            == ""
        )


def test_services_record_a_proven_test_for_any_caller(editor: User, okendo) -> None:
    result = CheckResult(Outcome.OK, "Okendo accepted these.", 200, 42)
    token = services.credentials_test_proof(
        api_type="merchant", account_id=okendo.user_id, secret=okendo.api_key, result=result
    )
    data = ConnectionData(
        name="Via the API",
        api_type="merchant",
        account_id=okendo.user_id,
        secret=Secret(okendo.api_key),
    )

    connection = services.connection_create(actor=editor, data=data, test_proof=token)

    connection.refresh_from_db()
    assert connection.status == Connection.Status.ONLINE
    assert (connection.last_test_http_status, connection.last_test_elapsed_ms) == (200, 42)
    assert okendo.requests == []
