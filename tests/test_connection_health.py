"""The tokens query is each request's database health check (PostgreSQL keeps connections).

With ``CONN_HEALTH_CHECKS`` Django would send ``SELECT 1`` before the first query
of every request on a kept connection; ``connections.versions`` lets its own
first query be the check instead. These tests kill the connection a worker
keeps, as a server restart or a proxy timeout does, and expect the next page to
be served on a new one. A kept page whose tokens this host's change counter
vouches for needs no query at all, so a dead connection only matters to the
next request that reads the tokens. SQLite opens a connection per request
(nothing is kept, nothing is checked), so they run where connections are kept:
on PostgreSQL.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection
from django.test.utils import CaptureQueriesContext

from connections import hostcounter, versions
from connections.models import ListVersion
from tests.factories import client_for, make_user

pytestmark = [
    pytest.mark.django_db(transaction=True),  # no test transaction: connections live as served
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="only kept connections are health-checked; SQLite opens one per request",
    ),
]


def serve(handler: WSGIHandler, path: str, cookie: str) -> str:
    """Serve ``path`` as gunicorn does (request_started/finished and all) and return the status."""
    statuses: list[str] = []
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "HTTP_COOKIE": cookie,
        "SCRIPT_NAME": "",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
    }

    def start_response(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
        statuses.append(status)
        return lambda data: None

    body = handler(environ, start_response)
    b"".join(body)
    body.close()  # sends request_finished
    return statuses[0]


def terminate(backend_pid: int) -> None:
    """End one server process from the outside, as a restart or an idle timeout would."""
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"],
        port=settings["PORT"] or 5432,
        user=settings["USER"],
        password=settings["PASSWORD"],
        dbname=connection.settings_dict["NAME"],
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [backend_pid])


@pytest.fixture
def signed_in_cookie() -> str:
    reader: User = make_user("reader", "view")
    client = client_for(reader)
    return "; ".join(f"{name}={morsel.value}" for name, morsel in client.cookies.items())


@pytest.fixture(autouse=True)
def listed(tmp_path: Path, settings: Any) -> Iterator[None]:
    settings.CONNECTIONS_RUNTIME_DIR = str(tmp_path / "run")  # a change counter of its own
    # A transactional test starts flushed: give the list a version, so pages are kept.
    versions.bump(ListVersion)
    yield
    hostcounter.close_all()


def another_process_changed_a_token() -> None:
    """Count a change on this host's counter, as another worker's write does."""
    counter = hostcounter.for_database(
        django_settings.CONNECTIONS_RUNTIME_DIR, connection.settings_dict
    )
    assert counter is not None
    counter.increment()


@pytest.mark.parametrize("recheck_seconds", [0, 1.0], ids=["read-every-request", "counter"])
def test_page_is_served_on_a_new_connection_after_the_kept_one_died(
    signed_in_cookie: str, settings: Any, recheck_seconds: float
) -> None:
    settings.CONNECTIONS_TOKENS_RECHECK_SECONDS = recheck_seconds
    handler = WSGIHandler()
    assert serve(handler, "/connections/", signed_in_cookie).startswith("200")
    assert serve(handler, "/connections/", signed_in_cookie).startswith("200")  # now kept
    assert connection.connection is not None  # kept between requests, as in production
    dead_pid = connection.connection.info.backend_pid

    terminate(dead_pid)
    another_process_changed_a_token()  # so the next request must read the tokens

    with CaptureQueriesContext(connection) as queries:
        assert serve(handler, "/connections/", signed_in_cookie).startswith("200")
    assert connection.connection is not None
    assert connection.connection.info.backend_pid != dead_pid
    # The tokens query was the first on the dead connection, and so its check.
    assert "connections_listversion" in queries.captured_queries[0]["sql"]


def test_a_kept_page_needs_no_connection_while_nothing_changed(signed_in_cookie: str) -> None:
    handler = WSGIHandler()
    assert serve(handler, "/connections/", signed_in_cookie).startswith("200")
    assert serve(handler, "/connections/", signed_in_cookie).startswith("200")
    assert connection.connection is not None
    dead_pid = connection.connection.info.backend_pid

    terminate(dead_pid)

    with CaptureQueriesContext(connection) as queries:
        assert serve(handler, "/connections/", signed_in_cookie).startswith("200")
    assert queries.captured_queries == []
    # The first request that needs the database again gets a live connection.
    another_process_changed_a_token()
    assert serve(handler, "/connections/", signed_in_cookie).startswith("200")
    assert connection.connection.info.backend_pid != dead_pid


def test_healthy_kept_connection_serves_the_next_page_too(
    signed_in_cookie: str, settings: Any
) -> None:
    settings.CONNECTIONS_TOKENS_RECHECK_SECONDS = 0  # a query every request
    handler = WSGIHandler()
    assert serve(handler, "/connections/", signed_in_cookie).startswith("200")
    assert connection.connection is not None
    kept_pid = connection.connection.info.backend_pid

    assert serve(handler, "/connections/", signed_in_cookie).startswith("200")
    assert connection.connection.info.backend_pid == kept_pid
