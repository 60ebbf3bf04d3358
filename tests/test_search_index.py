"""On PostgreSQL the list's name search can use the trigram index (migration 0006).

Django compiles ``name__icontains`` on PostgreSQL to
``UPPER("name"::text) LIKE UPPER(%s)``; the index is on ``UPPER(name)`` with
``gin_trgm_ops`` so that this very query can use it. Each test captures the
SQL the list view really sends and asks PostgreSQL for its plan with
sequential scans (and plain index scans, which could only walk the name order)
switched off: a plan without the trigram index would mean the index cannot
answer the query. SQLite has no such index; its search is a plain scan.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from connections.models import Connection
from tests.factories import client_for, make_user

INDEX = "connection_name_upper_trgm"

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the trigram index exists on PostgreSQL only"
    ),
]


@pytest.fixture
def client() -> Client:
    Connection.objects.bulk_create(
        Connection(name=f"Shop {index:04d} reviews", api_type="merchant") for index in range(300)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE connections_connection")
    return client_for(make_user("reader", "view"))


def plans_of_search_queries(client: Client, query: str) -> list[str]:
    """Return the plan of each query the list view sends that searches the name."""
    with CaptureQueriesContext(connection) as captured:
        assert client.get(f"/connections/{query}").status_code == 200
    searches = [entry["sql"] for entry in captured.captured_queries if " LIKE " in entry["sql"]]
    assert len(searches) == 2  # the count and the page's rows
    plans = []
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        for sql in searches:
            cursor.execute(f"EXPLAIN {sql}")
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    return plans


def test_search_uses_the_trigram_index_on_upper_name(client: Client) -> None:
    plans = plans_of_search_queries(client, "?q=shop 012")

    for plan in plans:
        assert INDEX in plan, plan
        assert "Seq Scan" not in plan, plan


def test_search_in_another_order_and_page_uses_it_too(client: Client) -> None:
    plans = plans_of_search_queries(client, "?q=OP+01&sort=-updated&page=2")

    for plan in plans:
        assert INDEX in plan, plan


def test_the_index_is_the_one_django_queries_match() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [INDEX])
        (definition,) = cursor.fetchone()

    assert "USING gin (upper((name)::text) gin_trgm_ops)" in definition
