"""Reads: the querysets the pages need, and a few small read helpers."""

from __future__ import annotations

from typing import Literal, get_args

from django.db import connection as db_connection
from django.db.models import Q, QuerySet, Value
from django.db.models.functions import Lower
from django.db.models.lookups import Contains

from connections.models import Connection, ConnectionEvent

ListSort = Literal["name", "-name", "updated", "-updated"]
LIST_SORTS: tuple[ListSort, ...] = get_args(ListSort)
DEFAULT_LIST_SORT: ListSort = "name"
SEARCH_MAX_LENGTH = 100

# The list never needs the ciphertext or the test message: leave them in the database.
_LIST_COLUMNS = (
    "id",
    "uid",
    "name",
    "api_type",
    "status",
    "last_tested_at",
    "last_test_outcome",
    "updated_at",
)


def list_sort_or_default(value: str | None) -> ListSort:
    """Return ``value`` when it is a known list sort, else the default (name, A to Z)."""
    for sort in LIST_SORTS:
        if value == sort:
            return sort
    return DEFAULT_LIST_SORT


def name_search(search: str) -> Q:
    """Return the condition "the name contains ``search``, ignoring case", or no condition.

    ``search`` is cut to 100 characters and compared in NFC, the form every stored
    name has. On PostgreSQL ``icontains`` is ``UPPER(name) LIKE UPPER('%…%')``, which
    the trigram index on UPPER(name) answers (migration 0009) and which folds case
    beyond ASCII. SQLite's LIKE folds only A-Z, so there the name is compared through
    the Unicode-aware LOWER() that ``connections.sqlite`` installs: "é" finds "É".
    """
    # PostgreSQL refuses NUL in a query (a server error); no name can contain one anyway.
    search = search.replace("\x00", "").strip()[:SEARCH_MAX_LENGTH]
    search = Connection.normalize_name(search)
    if not search:
        return Q()
    if db_connection.vendor == "sqlite":
        return Q(Contains(Lower("name"), search.lower()))
    return Q(name__icontains=search)


def _list_filter(search: str, api_type: str, status: str) -> Q:
    condition = name_search(search)
    if api_type:
        condition &= Q(api_type=api_type)
    if status:
        condition &= Q(status=status)
    return condition


def _list_ordered(queryset: QuerySet[Connection], sort: ListSort) -> QuerySet[Connection]:
    # Lower(name) is unique (the constraint), so it orders completely by itself, and
    # the database walks that constraint's index without sorting anything.
    if sort == "name":
        return queryset.order_by(Lower("name"))
    if sort == "-name":
        return queryset.order_by(Lower("name").desc())
    if sort == "updated":
        return queryset.order_by("updated_at", "id")
    return queryset.order_by("-updated_at", "-id")


def connection_list(
    *,
    search: str = "",
    sort: ListSort = DEFAULT_LIST_SORT,
    api_type: str = "",
    status: str = "",
) -> QuerySet[Connection]:
    """Return connections matching the filters, in ``sort`` order, list columns only.

    ``search`` matches part of the name, ignoring case (cut to 100 characters);
    ``api_type`` (``merchant``/``storefront``) and ``status``
    (``online``/``offline``/``untested``) match exactly; empty means any. Names
    sort by ``Lower(name)``, unique by constraint; update times tie-break by id,
    so paging is stable even when two rows share an ``updated_at``.
    """
    queryset = Connection.objects.only(*_LIST_COLUMNS).filter(
        _list_filter(search, api_type, status)
    )
    return _list_ordered(queryset, sort)


def connection_exists_any() -> bool:
    """Tell whether at least one connection exists (for the list's empty state)."""
    return Connection.objects.exists()


def connection_for_display(*, pk: int) -> Connection | None:
    """Return the connection with who set its secrets and who created it, or ``None``."""
    return (
        Connection.objects.select_related("api_key_set_by", "password_set_by", "created_by")
        .filter(pk=pk)
        .first()
    )


def connection_history(*, connection: Connection, limit: int = 100) -> list[ConnectionEvent]:
    """Return the connection's latest ``limit`` events, newest first."""
    return list(
        ConnectionEvent.objects.filter(connection_uid=connection.uid).order_by(
            "-created_at", "-id"
        )[:limit]
    )


def connection_name_taken(*, name: str, exclude_pk: int | None = None) -> bool:
    """Tell whether another connection already uses ``name``, ignoring case.

    Compares ``Lower(name)`` on both sides, exactly as the unique constraint
    does, so the form and the database agree on every backend. ``name`` is
    compared in NFC, the form every stored name has.
    """
    name = Connection.normalize_name(name)
    queryset = Connection.objects.alias(lower_name=Lower("name")).filter(
        lower_name=Lower(Value(name))
    )
    if exclude_pk is not None:
        queryset = queryset.exclude(pk=exclude_pk)
    return queryset.exists()
