"""A kept database connection that died is replaced, not a server error (PostgreSQL).

Production keeps connections between requests (``CONN_MAX_AGE``) with Django's
``CONN_HEALTH_CHECKS``: before the first query of a request on a kept
connection Django checks it, and opens a new one if it is dead. These tests
kill the connection a worker keeps, as a server restart or a proxy timeout
does, and expect the next page to be served on a new one. SQLite opens a
connection per request (nothing is kept, nothing is checked), so they run
where connections are kept: on PostgreSQL.
"""

from __future__ import annotations

import io
import sys
from typing import Any

import psycopg
import pytest
from django.contrib.auth.models import User
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection

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


def test_page_is_served_on_a_new_connection_after_the_kept_one_died(
    signed_in_cookie: str,
) -> None:
    handler = WSGIHandler()
    assert serve(handler, "/connections/", signed_in_cookie).startswith("200")
    assert connection.connection is not None  # kept between requests, as in production
    dead_pid = connection.connection.info.backend_pid

    terminate(dead_pid)

    assert serve(handler, "/connections/", signed_in_cookie).startswith("200")
    assert connection.connection is not None
    assert connection.connection.info.backend_pid != dead_pid


def test_healthy_kept_connection_serves_the_next_page_too(signed_in_cookie: str) -> None:
    handler = WSGIHandler()
    assert serve(handler, "/connections/", signed_in_cookie).startswith("200")
    assert connection.connection is not None
    kept_pid = connection.connection.info.backend_pid

    assert serve(handler, "/connections/", signed_in_cookie).startswith("200")
    assert connection.connection.info.backend_pid == kept_pid
