"""Keep this app within Okendo's rate limit, and run one test per connection at a time.

Both live in Django's cache and rely only on ``cache.add`` being atomic ("set
if absent"), which holds for LocMemCache (one process), DatabaseCache (a
unique key, shared by every process using the database) and RedisCache
(``SET NX``). A per-process cache (``locmem://``) only limits the process
it lives in: production with several gunicorn workers needs ``CACHE_URL=db://``
(``make serve``'s default) or ``redis://…`` for several hosts, and
``manage.py check --deploy`` warns otherwise (``connections.W001``).

The account limiter hands out *send slots*: time is cut into slots of
``1 / per_second`` seconds (0.5 s for Okendo's 2 requests per second), and a
caller owns a slot once it has added the slot's key. A caller that finds the
current slot taken reserves the next free one and waits for it, so concurrent
callers queue in order instead of retrying in a herd. Slot indexes come from
the wall clock, which every process and host shares.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.core.cache import caches

OKENDO_REQUESTS_PER_SECOND = 2
# Longer than the longest test can run (the 15 s budget plus one connect and
# read timeout), so a lock left by a killed process frees itself.
TEST_LOCK_SECONDS = 60
_PREFIX = "okendo-connections"


class ConnectionTestInProgress(Exception):
    """Another test of the same connection is running; this one did not start."""


class AccountRateLimiter:
    """Space requests to one Okendo account so that no slot of ``1/per_second`` s holds two."""

    def __init__(
        self,
        *,
        per_second: int = OKENDO_REQUESTS_PER_SECOND,
        cache_alias: str = "default",
        now: Callable[[], float] = time.time,
    ) -> None:
        self.slot_seconds = 1.0 / per_second
        self.cache_alias = cache_alias
        self.now = now

    def reserve(self, account_id: str, max_wait: float) -> float | None:
        """Reserve the first free send slot for ``account_id`` starting within ``max_wait`` s.

        Return how many seconds to wait before sending (0 when the current slot
        was free), or ``None`` when every slot up to ``max_wait`` is taken.
        """
        cache = caches[self.cache_alias]
        now = self.now()
        first = math.floor(now / self.slot_seconds)
        last = math.floor((now + max(0.0, max_wait)) / self.slot_seconds)
        for index in range(first, last + 1):
            starts_in = max(0.0, index * self.slot_seconds - now)
            # The key must outlive its slot, or a late caller could take it again.
            timeout = math.ceil(starts_in + self.slot_seconds) + 1
            if cache.add(f"{_PREFIX}:rate:{account_id}:{index}", 1, timeout=timeout):
                return starts_in
        return None

    __call__ = reserve


@contextmanager
def connection_test_lock(
    connection_key: str, *, cache_alias: str = "default", timeout: int = TEST_LOCK_SECONDS
) -> Iterator[None]:
    """Hold the "test in progress" lock of one connection, or raise ``ConnectionTestInProgress``."""
    cache = caches[cache_alias]
    key = f"{_PREFIX}:testing:{connection_key}"
    token = secrets.token_hex(8)
    if not cache.add(key, token, timeout=timeout):
        raise ConnectionTestInProgress("A test of this connection is already running.")
    try:
        yield
    finally:
        # Only release our own lock: after a timeout another test may hold it.
        if cache.get(key) == token:
            cache.delete(key)
