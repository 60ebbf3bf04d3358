"""When a request reads the version tokens, and when this host's change counter spares it.

A worker keeps the tokens it last read outside a transaction with the change
count it saw just before; a request whose count is unchanged, within
``CONNECTIONS_TOKENS_RECHECK_SECONDS``, needs no query. These tests run without
a test transaction (as a served request does), each with a counter of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from connections import hostcounter, versions
from connections.hostcounter import HostCounter
from connections.models import AuthVersion, ListVersion

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def own_counter(settings: Any, tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "run"
    settings.CONNECTIONS_RUNTIME_DIR = str(directory)
    settings.CONNECTIONS_TOKENS_RECHECK_SECONDS = 1.0
    # A transactional test starts from a flushed database: give both tokens a value.
    versions.bump(ListVersion)
    versions.bump(AuthVersion)
    yield directory
    hostcounter.close_all()


def serve() -> tuple[versions.Tokens, int]:
    """What one request does with the tokens: read them (or not); return them and the queries."""
    versions.request_started()
    try:
        with CaptureQueriesContext(connection) as queries:
            tokens = versions.current()
    finally:
        versions.request_finished()
    return tokens, len(queries)


def stored() -> versions.Tokens:
    return versions.Tokens(
        list=ListVersion.objects.get(pk=1).token, auth=AuthVersion.objects.get(pk=1).token
    )


def change_around_django(model: type[ListVersion] | type[AuthVersion]) -> str:
    """Give ``model``'s row a new token in SQL: what no counter on this host sees."""
    token = "changed0around0django0000000001"
    model.objects.filter(pk=1).update(token=token)
    return token


def other_process_counter(directory: Path) -> HostCounter:
    """The same counter file, mapped anew: what another process on this host holds."""
    return HostCounter(directory / hostcounter.file_name(connection.settings_dict))


def test_a_request_after_an_unchanged_count_reads_nothing() -> None:
    first, first_queries = serve()
    second, second_queries = serve()

    assert (first_queries, second_queries) == (1, 0)
    assert first == second == stored()


def test_a_change_through_django_is_read_by_the_next_request() -> None:
    before, _ = serve()

    versions.bump(AuthVersion)  # as a sign-out in another worker of this process does
    after, queries = serve()

    assert queries == 1
    assert after == stored()
    assert after.auth != before.auth


def test_a_change_counted_by_another_process_is_read_by_the_next_request(
    own_counter: Path,
) -> None:
    serve()
    token = change_around_django(ListVersion)

    other_process_counter(own_counter).increment()
    after, queries = serve()

    assert queries == 1
    assert after.list == token


def test_an_uncounted_change_shows_once_the_recheck_interval_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before, _ = serve()
    read_at = versions._clock()
    token = change_around_django(AuthVersion)

    monkeypatch.setattr(versions, "_clock", lambda: read_at + 0.9)
    kept, kept_queries = serve()
    monkeypatch.setattr(versions, "_clock", lambda: read_at + 1.1)
    after, after_queries = serve()

    assert (kept_queries, kept.auth) == (0, before.auth)  # the documented bound, not a wish
    assert (after_queries, after.auth) == (1, token)


def test_zero_recheck_seconds_reads_on_every_request(settings: Any) -> None:
    settings.CONNECTIONS_TOKENS_RECHECK_SECONDS = 0

    assert [serve()[1] for _ in range(3)] == [1, 1, 1]


def test_tokens_read_in_a_transaction_that_rolls_back_are_not_kept() -> None:
    before, _ = serve()

    class Abandon(Exception):
        pass

    versions.request_started()
    try:
        with transaction.atomic():
            versions.bump(AuthVersion)
            inside = versions.current()  # this transaction's own, uncommitted token
            raise Abandon
    except Abandon:
        pass
    finally:
        versions.request_finished()
    after, queries = serve()

    assert inside.auth != before.auth
    assert queries == 1  # counted once at the change, and not kept: read again
    assert after == stored() == before


def test_a_change_is_counted_at_once_and_again_when_it_commits(own_counter: Path) -> None:
    # A worker reading between the two counts sees the old tokens (the change has
    # not committed) under the first count; the second one, before the writer can
    # answer, is what makes it read them again.
    watcher = other_process_counter(own_counter)
    start = watcher.value()

    with transaction.atomic():
        versions.bump(ListVersion)
        during = watcher.value()
    after_commit = watcher.value()

    assert (during, after_commit) == (start + 1, start + 2)


def test_a_refused_counter_means_a_read_on_every_request(
    settings: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    settings.CONNECTIONS_RUNTIME_DIR = str(shared)

    with caplog.at_level(logging.WARNING, logger="connections.hostcounter"):
        queries = [serve()[1] for _ in range(3)]

    assert queries == [1, 1, 1]
    assert any("on every request" in record.getMessage() for record in caplog.records)


def test_outside_a_request_every_call_reads() -> None:
    serve()

    with CaptureQueriesContext(connection) as queries:
        versions.current()
        versions.current()

    assert len(queries) == 2
