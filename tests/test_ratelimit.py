"""The per-account send slots and the one-test-per-connection lock, on local and shared caches."""

from __future__ import annotations

import contextlib
import threading
import uuid

import pytest
from django.core.cache import caches
from django.core.management import call_command
from django.db import connection

from connections.ratelimit import (
    AccountRateLimiter,
    ConnectionTestInProgress,
    connection_test_lock,
)


class FrozenTime:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def account():
    return str(uuid.uuid4())


@pytest.fixture
def shared_cache(settings):
    """A DatabaseCache alias, the backend production uses with CACHE_URL=db://."""
    settings.CACHES = {
        **settings.CACHES,
        "shared": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "test_ratelimit_cache",
        },
    }
    call_command("createcachetable", "test_ratelimit_cache", verbosity=0)
    return "shared"


def test_first_request_goes_at_once_and_the_next_waits_for_the_next_half_second(account):
    limiter = AccountRateLimiter(now=FrozenTime(100.3))

    assert limiter.reserve(account, 15) == 0
    assert limiter.reserve(account, 15) == pytest.approx(0.2)
    assert limiter.reserve(account, 15) == pytest.approx(0.7)


def test_two_requests_per_second_at_most_for_one_account(account):
    limiter = AccountRateLimiter(now=FrozenTime(200.0))

    waits = [limiter.reserve(account, 15) for _ in range(6)]

    assert waits == pytest.approx([0, 0.5, 1.0, 1.5, 2.0, 2.5])
    send_times = [200.0 + wait for wait in waits if wait is not None]
    assert all(sum(1 for t in send_times if start <= t < start + 1) <= 2 for start in send_times)


def test_accounts_do_not_share_slots(account):
    limiter = AccountRateLimiter(now=FrozenTime(300.0))

    assert limiter.reserve(account, 15) == 0
    assert limiter.reserve(str(uuid.uuid4()), 15) == 0


def test_no_slot_within_max_wait_returns_none(account):
    limiter = AccountRateLimiter(now=FrozenTime(400.0))
    limiter.reserve(account, 15)
    limiter.reserve(account, 15)

    assert limiter.reserve(account, 0.4) is None
    assert limiter.reserve(account, 1.0) == pytest.approx(1.0)


def test_slots_free_up_as_time_passes(account):
    clock = FrozenTime(500.0)
    limiter = AccountRateLimiter(now=clock)
    limiter.reserve(account, 15)

    clock.now = 501.0

    assert limiter.reserve(account, 15) == 0


def _reserve_concurrently(limiter, account, workers=8, *, serialise=False):
    waits = []
    lock = threading.Lock()
    start = threading.Barrier(workers)
    one_at_a_time = threading.Lock() if serialise else contextlib.nullcontext()

    def worker():
        start.wait()
        with one_at_a_time:
            wait = limiter.reserve(account, 15)
        with lock:
            waits.append(wait)
        connection.close()

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(waits)


def test_concurrent_callers_each_get_their_own_slot_in_process(account):
    limiter = AccountRateLimiter(now=FrozenTime(600.0))

    waits = _reserve_concurrently(limiter, account)

    assert waits == pytest.approx([i * 0.5 for i in range(8)])


@pytest.mark.django_db(transaction=True)
def test_database_cache_gives_each_connection_its_own_slot(account, shared_cache):
    # Every thread has its own database connection, as separate gunicorn workers would.
    limiter = AccountRateLimiter(cache_alias=shared_cache, now=FrozenTime(700.0))
    # SQLite's shared in-memory test database answers concurrent writers with
    # "table is locked" instead of waiting, so there the workers take turns.
    serialise = connection.vendor == "sqlite"

    waits = _reserve_concurrently(limiter, account, workers=6, serialise=serialise)

    assert waits == pytest.approx([i * 0.5 for i in range(6)])
    other_worker = AccountRateLimiter(cache_alias=shared_cache, now=FrozenTime(700.0))
    assert other_worker.reserve(account, 15) == pytest.approx(3.0)


def test_second_test_of_the_same_connection_cannot_start_while_one_runs():
    key = str(uuid.uuid4())

    with connection_test_lock(key):
        with pytest.raises(ConnectionTestInProgress), connection_test_lock(key):
            pass  # pragma: no cover - never entered
        with connection_test_lock(str(uuid.uuid4())):
            pass  # another connection is not blocked

    with connection_test_lock(key):
        pass  # released afterwards


def test_lock_is_released_when_the_test_fails():
    key = str(uuid.uuid4())

    with pytest.raises(RuntimeError), connection_test_lock(key):
        raise RuntimeError("boom")

    with connection_test_lock(key):
        pass


def test_expired_lock_taken_by_another_test_is_not_released_by_the_first():
    key = str(uuid.uuid4())
    cache_key = f"okendo-connections:testing:{key}"

    with connection_test_lock(key):
        caches["default"].delete(cache_key)  # as if our lock had timed out
        with connection_test_lock(key):
            pass
        caches["default"].set(cache_key, "someone-else", 60)
    assert caches["default"].get(cache_key) == "someone-else"
    caches["default"].delete(cache_key)


@pytest.mark.django_db(transaction=True)
def test_lock_holds_across_database_cache_connections(shared_cache):
    key = str(uuid.uuid4())
    outcome = []

    with connection_test_lock(key, cache_alias=shared_cache):

        def other_worker():
            try:
                with connection_test_lock(key, cache_alias=shared_cache):
                    outcome.append("started")
            except ConnectionTestInProgress:
                outcome.append("refused")
            finally:
                connection.close()

        thread = threading.Thread(target=other_worker)
        thread.start()
        thread.join()

    assert outcome == ["refused"]
