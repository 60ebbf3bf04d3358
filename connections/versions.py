"""Version tokens: rows in the database that change with every write a worker's memory copies.

Two per-process caches depend on them: the list page's rendered results
(:class:`~connections.models.ListVersion`) and signed-in sessions and users
(:class:`~connections.models.AuthVersion`, see ``connections.signin_cache``).
A worker may serve from memory only what it stored under the token it has just
read from the database, so a write in any worker, committed, is seen by every
worker's next request.

During a request both tokens are read together, once, by the first code that
needs either (one round trip for the session, the user, the permissions and the
list), and read again after this request itself changes one of them. Outside a
request (commands, shells) every call reads the database.

Most requests need not make even that round trip. Every change of a token also
adds one to this host's change counter (``connections.hostcounter``): at once,
and again when the change commits, before the writer's response can leave. A
worker keeps the tokens it last read outside a transaction together with the
count it saw just before reading them; while the count is the same, no process
on this host has changed a token since, and the kept tokens are served without
a query. They are read again anyway once ``CONNECTIONS_TOKENS_RECHECK_SECONDS``
have passed, which bounds how long a change made where this host's counter
cannot see it (another host, a process running as another user) goes unseen;
``0`` reads the database on every request.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Hashable
from time import monotonic
from typing import Any, Generic, NamedTuple, TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction

from connections import hostcounter
from connections.hostcounter import HostCounter
from connections.models import AuthVersion, ListVersion, VersionRow

RECHECK_SECONDS = 1.0


class Tokens(NamedTuple):
    """The current tokens; ``""`` means unknown (no row, or never set): cache nothing."""

    list: str
    auth: str


def _table(model: type[VersionRow]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _query() -> Tokens:
    # Plain SQL: building and compiling a queryset costs ten times the query.
    # Subqueries, so a missing row leaves its token empty rather than the other.
    sql = (
        f"SELECT (SELECT token FROM {_table(ListVersion)} WHERE id = 1),"  # noqa: S608  # constants
        f" (SELECT token FROM {_table(AuthVersion)} WHERE id = 1)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        row = cursor.fetchone()
    return Tokens(list=str(row[0] or ""), auth=str(row[1] or ""))


def _read() -> Tokens:
    """Read the tokens; as a request's first query, also be its connection health check.

    With ``CONN_HEALTH_CHECKS`` Django sends ``SELECT 1`` before the first query
    of each request on a kept connection, a round trip of its own. When this
    read is that first query it is the check: if the connection turns out to be
    dead (the server restarted, a proxy dropped it) it is closed and the read
    made once more on a new one, as Django would have done after its check.
    """
    wrapper: Any = connection  # health_check_* are Django 4.1+ attributes the stubs lack
    checking = (
        wrapper.connection is not None
        and wrapper.health_check_enabled
        and not wrapper.health_check_done
        and not wrapper.in_atomic_block
    )
    if not checking:
        return _query()
    wrapper.health_check_done = True
    try:
        return _query()
    except (OperationalError, InterfaceError):
        connection.close()
    return _query()


class _RequestState(threading.local):
    active = False
    tokens: Tokens | None = None


_state = _RequestState()


def recheck_seconds() -> float:
    return float(getattr(settings, "CONNECTIONS_TOKENS_RECHECK_SECONDS", RECHECK_SECONDS))


def _counter() -> HostCounter | None:
    """This host's change counter for the default database; ``None``: read every time."""
    if recheck_seconds() <= 0:
        return None
    directory = str(getattr(settings, "CONNECTIONS_RUNTIME_DIR", "") or "")
    return hostcounter.for_database(directory, connection.settings_dict)


class _Kept(NamedTuple):
    """Tokens read outside a transaction, the count seen just before, and when."""

    counter: HostCounter
    seen: int
    tokens: Tokens
    read_at: float


_kept: _Kept | None = None
# Not ``monotonic``: tests move that one to age cache entries, not to skip reads.
_clock = time.monotonic


def _read_for_request() -> Tokens:
    """The tokens this worker kept, if nothing on this host changed them since; else read them."""
    global _kept
    counter = _counter()
    if counter is None:
        return _read()
    count = counter.value()  # before the read: a change after it must show as a new count
    now = _clock()
    kept = _kept
    if (
        kept is not None
        and kept.counter is counter
        and kept.seen == count
        and now - kept.read_at < recheck_seconds()
    ):
        return kept.tokens
    tokens = _read()
    if not connection.in_atomic_block:
        # Inside a transaction the read may see this transaction's own, uncommitted
        # change, which a rollback takes back without a new count: keep it for this
        # request only.
        _kept = _Kept(counter, count, tokens, now)
    return tokens


def current() -> Tokens:
    """Return the tokens: read once per request (and after a bump), every time outside one."""
    if not _state.active:
        return _read()
    if _state.tokens is None:
        _state.tokens = _read_for_request()
    return _state.tokens


def forget_kept() -> None:
    """Make every worker thread's next request read the database (tests; a restored database)."""
    global _kept
    _kept = None


def forget() -> None:
    """Make the next :func:`current` in this request read the database again (after a bump)."""
    _state.tokens = None


def request_started(**kwargs: Any) -> None:
    """Begin a request: tokens are read at most once from here on (``request_started``)."""
    _state.active = True
    _state.tokens = None


def request_finished(**kwargs: Any) -> None:
    """End a request: forget its tokens (``request_finished``)."""
    _state.active = False
    _state.tokens = None


Row = TypeVar("Row", ListVersion, AuthVersion)


def bump(model: type[Row]) -> None:
    """Give ``model``'s row a new token, inside the caller's transaction, and forget the old one."""
    token = uuid.uuid4().hex
    if not model.objects.filter(pk=1).update(token=token):
        # The row is gone (a test database flush): put it back, whoever gets there first.
        model.objects.bulk_create(
            [model(pk=1, token=token)],
            update_conflicts=True,
            unique_fields=["id"],
            update_fields=["token"],
        )
    forget()
    _changed()


def _changed() -> None:
    """Tell this host's workers a token changed: now, and again when the change commits.

    The first count makes workers read the database again straight away (and,
    for a test's connection, that is the only one: its transaction never
    commits). The second one retires tokens a worker may have read between the
    first and the commit, which are the old ones; it is counted before the
    writer's response leaves, so the next request anywhere on this host reads
    the new tokens.
    """
    counter = _counter()
    if counter is None:
        return
    counter.increment()
    transaction.on_commit(counter.increment)


V = TypeVar("V")


class TokenCache(Generic[V]):
    """A bounded, thread-safe map whose entries hold only under the token they were stored with.

    Seeing a new token drops everything: entries stored under an older one can
    never be served again, so they need not wait for eviction. ``max_age``
    bounds how long a write made around Django (plain SQL, no new token) can go
    unseen.
    """

    def __init__(self, max_entries: int, max_age: float) -> None:
        self._max_entries = max_entries
        self._max_age = max_age
        self._entries: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        self._token = ""
        self._lock = threading.Lock()

    def _switch_to(self, token: str) -> None:
        if token != self._token:
            self._entries.clear()
            self._token = token

    def get(self, key: Hashable, token: str) -> V | None:
        """Return what was stored under ``key`` with ``token``, unless too old; else ``None``."""
        if not token:
            return None
        with self._lock:
            self._switch_to(token)
            entry = self._entries.get(key)
            if entry is None:
                return None
            if monotonic() - entry[0] > self._max_age:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def set(self, key: Hashable, token: str, value: V) -> None:
        """Store ``value`` under ``key`` for as long as ``token`` is current (and ``max_age``)."""
        if not token:
            return
        with self._lock:
            self._switch_to(token)
            self._entries[key] = (monotonic(), value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
