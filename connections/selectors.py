"""Reads: the queries the pages need, each with a fixed number of database round trips."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypedDict, cast, get_args

from django.db.models import Func, IntegerField, Q, QuerySet, Subquery, Value
from django.db.models.functions import Lower

from connections import versions
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


def _list_filter(search: str) -> Q:
    # PostgreSQL refuses NUL in a query (a server error); no name can contain one anyway.
    search = search.replace("\x00", "").strip()[:SEARCH_MAX_LENGTH]
    search = Connection.normalize_name(search)  # names are stored in NFC
    return Q(name__icontains=search) if search else Q()


def _list_ordered(queryset: QuerySet[Connection], sort: ListSort) -> QuerySet[Connection]:
    if sort == "name":
        return queryset.order_by(Lower("name"), "id")
    if sort == "-name":
        return queryset.order_by(Lower("name").desc(), "-id")
    if sort == "updated":
        return queryset.order_by("updated_at", "id")
    return queryset.order_by("-updated_at", "-id")


def connection_list(
    *, search: str = "", sort: ListSort = DEFAULT_LIST_SORT
) -> QuerySet[Connection]:
    """Return connections whose name contains ``search``, in ``sort`` order, list columns only.

    Names sort by ``Lower(name)`` (what the unique constraint indexes) and ties by
    id, so paging is stable even when two rows share an ``updated_at``.
    """
    queryset = Connection.objects.only(*_LIST_COLUMNS).filter(_list_filter(search))
    return _list_ordered(queryset, sort)


class ListRow(TypedDict):
    """The columns of one row of the list page, as stored."""

    id: int
    name: str
    api_type: str
    status: str
    last_tested_at: datetime | None
    updated_at: datetime


_PAGE_COLUMNS = ("id", "name", "api_type", "status", "last_tested_at", "updated_at")


@dataclass(frozen=True)
class ListPage:
    """One page of the list: its rows and what the pagination needs to know."""

    rows: list[ListRow]
    number: int
    count: int
    per_page: int

    @property
    def num_pages(self) -> int:
        return max(1, -(-self.count // self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.num_pages

    @property
    def has_other_pages(self) -> bool:
        return self.has_previous or self.has_next

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1


# Past this page number the offset alone would overflow a bigint: it can only be
# "beyond the last page", which shows the last page.
_MAX_PAGE_NUMBER = 2**40
_LAST_PAGE = -1


def list_page_number(value: str | None) -> int:
    """Return the page asked for as Django's ``Paginator.get_page`` reads it.

    Not a number means page 1; below 1 means the last page (returned as -1);
    beyond the last page is found out by :func:`connection_list_page`.
    """
    try:
        number = int(value)  # type: ignore[arg-type]  # None raises TypeError, as wanted
    except (TypeError, ValueError):
        return 1
    return number if 1 <= number <= _MAX_PAGE_NUMBER else _LAST_PAGE


def connection_list_page(
    *,
    search: str = "",
    sort: ListSort = DEFAULT_LIST_SORT,
    number: int = 1,
    per_page: int = 50,
) -> ListPage:
    """Return page ``number`` of the list (see :func:`list_page_number`) as plain rows.

    One query: the page's rows, each with the number of matching rows from an
    uncorrelated subquery the database runs once. Only an empty page past the
    first costs a count and a second page query, and then shows the last page,
    as ``Paginator.get_page`` does.
    """
    matching = Connection.objects.filter(_list_filter(search))
    # Count("*") is an aggregate, so inside a subquery Django would GROUP BY
    # every column; a bare COUNT(*) over the filtered rows is what is meant.
    total = Subquery(
        matching.order_by()
        .annotate(n=Func(template="COUNT(*)", output_field=IntegerField()))
        .values("n")
    )
    page_rows = _list_ordered(matching, sort).values(*_PAGE_COLUMNS, total=total)

    def fetch(page: int) -> tuple[list[ListRow], int]:
        offset = (page - 1) * per_page
        rows = list(page_rows[offset : offset + per_page])
        count = rows[0]["total"] if rows else 0
        for row in rows:
            del row["total"]
        return cast(list[ListRow], rows), count

    if number != _LAST_PAGE:
        rows, count = fetch(number)
        if rows or number == 1:
            return ListPage(rows=rows, number=number, count=count, per_page=per_page)
    count = matching.count()
    last = max(1, -(-count // per_page))
    rows, _ = fetch(last)
    return ListPage(rows=rows, number=last, count=count, per_page=per_page)


def list_version() -> str:
    """Return the token that changes with every write the list shows; '' means unknown.

    Read it before the rows: a page rendered from rows newer than its token is
    harmless, the reverse would be a stale cache entry. In a request it comes
    with the sign-in token, in the round trip that reads the session.
    """
    return versions.current().list


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
