"""Selectors: list search and order, name checks, history."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from connections import selectors
from connections.models import Connection, ConnectionEvent

pytestmark = pytest.mark.django_db

USER_ID = "1c8f0b3e-3f5a-4d4e-9a57-2f0c8e9b6d21"


def make(name: str, *, minutes_ago: int = 0) -> Connection:
    return Connection.objects.create(
        name=name,
        api_type="merchant",
        user_id=USER_ID,
        updated_at=timezone.now() - timedelta(minutes=minutes_ago),
    )


def names(queryset) -> list[str]:
    return [connection.name for connection in queryset]


def test_list_sorts_names_ignoring_case() -> None:
    for name in ("beta", "Alpha", "gamma", "Delta"):
        make(name)

    assert names(selectors.connection_list(sort="name")) == ["Alpha", "beta", "Delta", "gamma"]
    assert names(selectors.connection_list(sort="-name")) == ["gamma", "Delta", "beta", "Alpha"]


def test_list_sorts_by_last_update() -> None:
    make("old", minutes_ago=30)
    make("new", minutes_ago=1)
    make("middle", minutes_ago=10)

    assert names(selectors.connection_list(sort="-updated")) == ["new", "middle", "old"]
    assert names(selectors.connection_list(sort="updated")) == ["old", "middle", "new"]


def test_equal_update_times_page_stably_by_id() -> None:
    now = timezone.now()
    Connection.objects.bulk_create(
        Connection(name=f"c{index}", api_type="merchant", updated_at=now) for index in range(5)
    )

    assert names(selectors.connection_list(sort="updated")) == [f"c{i}" for i in range(5)]
    assert names(selectors.connection_list(sort="-updated")) == [f"c{i}" for i in range(4, -1, -1)]


def test_search_matches_part_of_the_name_ignoring_case() -> None:
    for name in ("EU reviews", "US reviews", "Loyalty EU"):
        make(name)

    assert names(selectors.connection_list(search="  eu ")) == ["EU reviews", "Loyalty EU"]


@pytest.mark.parametrize("search", ["%", "_", "'; DROP TABLE connections_connection; --"])
def test_search_treats_wildcards_and_quotes_as_text(search: str) -> None:
    make("100% reviews")
    make("plain")

    expected = ["100% reviews"] if search == "%" else []
    assert names(selectors.connection_list(search=search)) == expected
    assert Connection.objects.count() == 2


def test_list_leaves_ciphertext_in_the_database() -> None:
    make("one")

    connection = selectors.connection_list().get()
    assert "api_key_encrypted" in connection.get_deferred_fields()
    assert "password_encrypted" in connection.get_deferred_fields()


@pytest.mark.parametrize(
    ("value", "expected"),
    [("name", "name"), ("-updated", "-updated"), ("", "name"), (None, "name"), ("id", "name")],
)
def test_unknown_sort_falls_back_to_name(value, expected: str) -> None:
    assert selectors.list_sort_or_default(value) == expected


def test_name_taken_ignores_case_and_can_exclude_itself() -> None:
    connection = make("Shop EU")

    assert selectors.connection_name_taken(name="shop eu")
    assert selectors.connection_name_taken(name="SHOP EU")
    assert not selectors.connection_name_taken(name="shop eu", exclude_pk=connection.pk)
    assert not selectors.connection_name_taken(name="Shop US")


def test_connection_exists_any() -> None:
    assert not selectors.connection_exists_any()
    make("one")
    assert selectors.connection_exists_any()


def test_connection_for_display_returns_none_for_unknown_id() -> None:
    assert selectors.connection_for_display(pk=12345) is None


def test_history_is_newest_first_and_limited() -> None:
    connection = make("Shop")
    start = timezone.now()
    for minute in range(5):
        ConnectionEvent.objects.create(
            connection=connection,
            connection_uid=connection.uid,
            connection_name=connection.name,
            action="tested",
            summary=f"event {minute}",
            created_at=start + timedelta(minutes=minute),
        )

    history = selectors.connection_history(connection=connection, limit=3)

    assert [event.summary for event in history] == ["event 4", "event 3", "event 2"]
