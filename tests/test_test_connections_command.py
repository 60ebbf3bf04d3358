"""``manage.py test_connections``: selection, table, status updates and exit code."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import CommandError, call_command

from connections import services
from connections.models import Connection, ConnectionEvent
from connections.ratelimit import connection_test_lock
from tests.factories import save_connection, script_answer
from tests.fake_okendo import StillClock

pytestmark = pytest.mark.django_db


def run(*args):
    out = io.StringIO()
    try:
        call_command("test_connections", *args, stdout=out)
    except CommandError as exc:
        return out.getvalue(), exc
    return out.getvalue(), None


def rows(output):
    """Return {name: (outcome, ms)} from the printed table."""
    table = {}
    for line in output.splitlines()[1:]:
        match = re.fullmatch(r"(.+?)\s{2,}(\S+)\s+(\d+|-)", line)
        if match:
            table[match[1]] = (match[2], match[3])
    return table


def test_all_tests_every_connection_prints_a_table_and_fails_if_any_is_not_ok(okendo):
    save_connection("EU reviews", account_id=okendo.user_id, secret=okendo.api_key)
    save_connection(
        "US reviews", account_id=okendo.user_id, secret="sk_test_NOT_A_REAL_KEY_wrong0001"
    )
    save_connection(
        "Storefront", api_type="storefront", account_id=okendo.store_id, secret=okendo.password
    )

    output, error = run("--all")

    assert output.splitlines()[0].split() == ["Name", "Outcome", "ms"]
    table = rows(output)
    assert {name: outcome for name, (outcome, _) in table.items()} == {
        "EU reviews": "ok",
        "US reviews": "auth_failed",
        "Storefront": "ok",
    }
    assert all(ms.isdigit() for _, ms in table.values())
    assert error is not None
    assert error.returncode == 1
    assert str(error) == "1 of 3 connections are not ok."
    statuses = dict(Connection.objects.values_list("name", "status"))
    assert statuses == {"EU reviews": "online", "US reviews": "offline", "Storefront": "online"}
    assert ConnectionEvent.objects.filter(action="tested", actor=None).count() == 3
    assert okendo.api_key not in output
    assert "sk_test_NOT_A_REAL_KEY_wrong0001" not in output


def test_all_ok_exits_zero_and_says_so(okendo):
    save_connection("EU reviews", account_id=okendo.user_id, secret=okendo.api_key)

    output, error = run("--all")

    assert error is None
    assert output.splitlines()[-1] == "All 1 connections are ok."


def test_offline_tests_only_offline_connections(okendo):
    save_connection("Online", account_id=okendo.user_id, secret=okendo.api_key, status="online")
    save_connection("Broken", account_id=okendo.user_id, secret=okendo.api_key, status="offline")

    output, error = run("--offline")

    assert set(rows(output)) == {"Broken"}
    assert len(okendo.requests) == 1
    assert error is None
    assert Connection.objects.get(name="Broken").status == "online"


def test_ids_and_uuids_select_connections(okendo):
    first = save_connection("First", account_id=okendo.user_id, secret=okendo.api_key)
    save_connection("Second", account_id=okendo.user_id, secret=okendo.api_key)
    third = save_connection("Third", account_id=okendo.user_id, secret=okendo.api_key)

    output, error = run(str(first.pk), str(third.uid).upper())

    assert set(rows(output)) == {"First", "Third"}
    assert error is None


def test_unknown_id_stops_before_testing_anything(okendo):
    first = save_connection("First", account_id=okendo.user_id, secret=okendo.api_key)
    missing = first.pk + 999_999

    output, error = run(str(missing), "00000000-0000-0000-0000-000000000000", str(first.pk))

    assert error is not None
    # Only the unknown ones are named; the existing id is not. (Ids come from the
    # database: PostgreSQL sequences do not restart per test, so never assume 1.)
    assert str(error) == f"No connection with id 00000000-0000-0000-0000-000000000000, {missing}."
    assert okendo.requests == []
    assert output == ""


def test_value_that_is_not_an_id_is_refused(okendo):
    _, error = run("drop table")

    assert error is not None
    assert "neither a connection id nor a UUID" in str(error)


@pytest.mark.parametrize("args", [(), ("--all", "--offline"), ("--all", "1")])
def test_selection_is_required_and_exclusive(args):
    with pytest.raises(CommandError):
        call_command("test_connections", *args, stdout=io.StringIO())


def test_nothing_to_test_is_said_and_is_not_a_failure(okendo):
    output, error = run("--offline")

    assert output.strip() == "No connections to test."
    assert error is None


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        ("200", "ok"),
        ("401", "auth_failed"),
        ("403", "forbidden"),
        ("404", "not_found"),
        ("429", "rate_limited"),
        ("503", "unavailable"),
        ("slow", "unavailable"),
        ("reset", "unavailable"),
        ("400", "unexpected"),
        ("large", "unexpected"),
        ("not-json", "unexpected"),
    ],
)
def test_every_outcome_is_printed_and_only_ok_exits_zero(okendo, answer, outcome):
    connection = save_connection("Shop", account_id=okendo.user_id, secret=okendo.api_key)
    script_answer(okendo, answer, retry_after="2", declare_length=False)

    output, error = run("-v", "2", str(connection.pk))

    assert rows(output)["Shop"][0] == outcome
    assert (error is None) == (outcome == "ok")
    connection.refresh_from_db()
    assert connection.last_test_message in output  # -v 2 prints the sentence


def test_unreachable_okendo_is_unavailable(okendo_down):
    save_connection("Shop", account_id=okendo_down.user_id, secret=okendo_down.api_key)

    output, error = run("--all")

    assert rows(output)["Shop"][0] == "unavailable"
    assert error is not None


def test_undecryptable_secret_is_misconfigured(okendo, settings):
    save_connection("Shop", account_id=okendo.user_id, secret=okendo.api_key)
    settings.CONNECTIONS_ENCRYPTION_KEY = "other1:YW5vdGhlci10ZXN0LWtleS1OT1QtQS1SRUFMLU9ORSE="

    output, error = run("--all")

    assert rows(output)["Shop"][0] == "misconfigured"
    assert error is not None


def test_connection_being_tested_elsewhere_is_busy_and_counts_as_not_ok(okendo):
    connection = save_connection("Shop", account_id=okendo.user_id, secret=okendo.api_key)

    with connection_test_lock(str(connection.uid)):
        output, error = run("--all")

    assert rows(output)["Shop"] == ("busy", "-")
    assert error is not None
    assert okendo.requests == []


def test_connections_of_one_account_are_tested_within_the_rate_limit(monkeypatch, okendo):
    okendo.clock = StillClock()  # the waits, not the machine's speed, decide
    monkeypatch.setattr(services, "clock", okendo.clock)
    for name in ("A", "B", "C"):
        save_connection(name, account_id=okendo.user_id, secret=okendo.api_key)

    _, error = run("--all")

    assert error is None
    assert len(okendo.clock.sleeps) == 2  # the 2nd and 3rd waited for their half-second slot
    assert all(0 < wait <= 1.0 for wait in okendo.clock.sleeps)
