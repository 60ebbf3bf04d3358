"""The list page: Paginator, filters, htmx partials, plain links, and a fixed query count."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from html import unescape
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.contrib.auth.models import User
from django.contrib.messages import constants
from django.contrib.messages.storage.cookie import CookieStorage
from django.db import connection
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from connections import selectors, views
from connections.models import Connection
from tests.factories import (
    CONNECTION_ACTIONS,
    STORE_ID,
    client_for,
    create_connection,
    make_user,
)

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
CREATE_LINK = 'href="/connections/new/"'


@pytest.fixture
def editor() -> User:
    return make_user("erin", *CONNECTION_ACTIONS, is_staff=True)


@pytest.fixture
def client(editor: User) -> Client:
    return client_for(editor)


def listing(client: Client, query: str = "", **headers: str) -> str:
    response = client.get(f"/connections/{query}", headers=headers)
    assert response.status_code == 200
    return response.content.decode()


def names_in(html: str) -> list[str]:
    return re.findall(r'class="table__primary" href="/connections/\d+/">([^<]+)<', html)


def row_of(html: str, name: str) -> str:
    pattern = rf'<tr>\s*<td data-label="Name">[^\n]*>{re.escape(name)}</a>.*?</tr>'
    match = re.search(pattern, html, re.S)
    assert match, f"no row for {name!r}"
    return match[0]


def link_params(html: str, rel_or_label: str) -> dict[str, list[str]]:
    """Return the query parameters of the link whose rel or text is ``rel_or_label``."""
    match = re.search(rf'<a [^>]*rel="{rel_or_label}"[^>]*href="([^"]*)"', html) or re.search(
        rf'<a [^>]*href="([^"]*)"[^>]*>{rel_or_label}<', html
    )
    assert match, f"no link {rel_or_label!r}"
    return parse_qs(urlsplit(unescape(match[1])).query)


def bulk(count: int, **fields: str) -> None:
    Connection.objects.bulk_create(
        Connection(name=f"Connection {index:04d}", api_type="merchant", **fields)
        for index in range(count)
    )


def seed_mix() -> None:
    """Twelve connections: each type with each status, in two name families."""
    rows = []
    for family in ("alpha", "beta"):
        for api_type in ("merchant", "storefront"):
            for status in ("online", "offline", "untested"):
                rows.append(
                    Connection(
                        name=f"{family} {api_type} {status}", api_type=api_type, status=status
                    )
                )
    Connection.objects.bulk_create(rows)


# --- Writes show on the next request -------------------------------------------------------


def test_create_rename_test_and_delete_show_on_the_next_request(
    client: Client, editor: User, okendo
) -> None:
    shop = create_connection(
        editor, name="Old name", account_id=okendo.user_id, secret=okendo.api_key
    )
    assert names_in(listing(client)) == ["Old name"]

    client.post(
        "/connections/new/",
        {
            "name": "Second",
            "api_type": "storefront",
            "username": STORE_ID,
            "password": "pw_NOTREAL",
        },
    )
    client.post(
        f"/connections/{shop.pk}/edit/",
        {
            "name": "New name",
            "api_type": "merchant",
            "user_id": okendo.user_id,
            "api_key": okendo.api_key,
        },
    )
    renamed = listing(client)
    client.post(f"/connections/{shop.pk}/test/", headers=HTMX)
    tested = listing(client)
    shop.refresh_from_db()
    client.post(f"/connections/{shop.pk}/delete/")

    assert names_in(renamed) == ["New name", "Second"]
    assert '<span class="tag">Storefront</span>' in row_of(renamed, "Second")
    assert 'badge--untested">Untested<' in row_of(renamed, "New name")
    assert 'badge--online">Online<' in row_of(tested, "New name")
    stamp = timezone.localtime(shop.last_tested_at).isoformat()
    assert f'<time datetime="{stamp}">' in row_of(tested, "New name")
    assert names_in(listing(client)) == ["Second"]


def test_rows_written_around_the_services_show_at_once(client: Client) -> None:
    bulk(2)
    assert names_in(listing(client)) == ["Connection 0000", "Connection 0001"]

    Connection.objects.filter(name="Connection 0000").update(name="Renamed in SQL")

    assert names_in(listing(client)) == ["Connection 0001", "Renamed in SQL"]


# --- Search, sort, pages ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("page", "shown"),
    [
        ("", 1),
        ("2", 2),
        ("3", 3),
        ("999", 3),  # past the end: the last page
        ("99999999999999999999", 3),
        ("0", 3),  # below 1: Django's get_page shows the last page too
        ("-1", 3),
        ("abc", 1),  # not a number: the first page
        ("1e9", 1),
        ("2.0", 1),
    ],
)
def test_page_numbers_are_read_as_django_paginator_reads_them(
    client: Client, page: str, shown: int
) -> None:
    bulk(120)

    html = listing(client, f"?page={page}" if page else "")

    assert f"Page {shown} of 3" in html
    assert names_in(html)[0] == f"Connection {(shown - 1) * 50:04d}"
    assert len(names_in(html)) == (20 if shown == 3 else 50)


def test_search_sort_and_page_combine(client: Client) -> None:
    start = timezone.now()
    Connection.objects.bulk_create(
        Connection(
            name=f"{word} {index:02d}",
            api_type="merchant",
            updated_at=start + timedelta(seconds=index * 2 + (word == "Beta")),
        )
        for word in ("alpha", "Beta")
        for index in range(55)
    )

    assert names_in(listing(client, "?q=BETA&sort=-name&page=2")) == [
        f"Beta {index:02d}" for index in range(4, -1, -1)
    ]
    assert names_in(listing(client, "?q=alpha&sort=-updated"))[:2] == ["alpha 54", "alpha 53"]
    assert names_in(listing(client, "?sort=updated"))[:3] == ["alpha 00", "Beta 00", "alpha 01"]
    assert names_in(listing(client, "?q=zzz")) == []


@pytest.mark.parametrize(
    ("stored", "typed"),
    [
        ("été shop", "ÉTÉ"),
        ("ÉTÉ shop", "été"),
        ("Ωmega", "ω"),
        ("café", "CAFÉ"),
    ],
)
def test_search_ignores_case_beyond_ascii(client: Client, stored: str, typed: str) -> None:
    # SQLite's LIKE folds only A-Z: "É" did not find "é" there (found by trying it).
    Connection.objects.bulk_create(
        [
            Connection(name=stored, api_type="merchant"),
            Connection(name="other", api_type="merchant"),
        ]
    )

    assert names_in(listing(client, "?" + urlencode({"q": typed}))) == [stored]


# --- Filters ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?api_type=merchant", {"merchant"}),
        ("?api_type=storefront", {"storefront"}),
        ("?status=online", {"online"}),
        ("?status=offline&api_type=storefront", {"storefront offline"}),
        ("?status=untested&api_type=merchant&q=beta", {"beta merchant untested"}),
    ],
)
def test_filters_by_type_and_status_combine_with_search(
    client: Client, query: str, expected: set[str]
) -> None:
    seed_mix()

    names = names_in(listing(client, query))

    assert names
    assert all(any(part in name for part in expected) for name in names), names
    matching = {
        connection.name
        for connection in Connection.objects.all()
        if all(
            value in connection.name
            for key, values in parse_qs(query[1:]).items()
            for value in values
        )
    }
    assert set(names) == matching


@pytest.mark.parametrize(
    "query",
    [
        "?api_type=admin",
        "?status=broken",
        "?sort=password",
        "?api_type=MERCHANT&status=Online",
        "?api_type=merchant&api_type=",  # the last of repeated values counts
        "?status=%00",
        "?q=%00&api_type=%E2%80%AE",
    ],
)
def test_unknown_filter_values_are_ignored_never_an_error(client: Client, query: str) -> None:
    seed_mix()

    html = listing(client, query)

    assert len(names_in(html)) == 12
    assert names_in(html) == sorted(names_in(html), key=str.lower)


def test_filtered_empty_result_says_so_and_keeps_the_create_button(client: Client) -> None:
    seed_mix()
    Connection.objects.filter(status="offline").delete()

    html = listing(client, "?status=offline")

    assert "No connections match these filters" in html
    assert "No connections yet" not in html
    assert CREATE_LINK in html
    assert 'id="connection-filters"' in html  # the filters stay, to change them


def test_filters_show_what_is_selected(client: Client) -> None:
    seed_mix()

    html = listing(client, "?api_type=storefront&status=online&q=alp")

    assert '<option value="storefront" selected>Storefront</option>' in html
    assert '<option value="online" selected>Online</option>' in html
    assert 'name="q" value="alp"' in html
    assert "1 connection matching “alp”" in html


# --- Links keep every parameter, work without JavaScript and with htmx ----------------------------


def test_sort_and_page_links_keep_filters_and_sort(client: Client) -> None:
    bulk(120, status="online")

    html = listing(
        client,
        "?" + urlencode({"api_type": "merchant", "status": "online", "sort": "-name", "page": 2}),
    )

    kept = {"api_type": ["merchant"], "status": ["online"]}
    assert link_params(html, "next") == {**kept, "sort": ["-name"], "page": ["3"]}
    assert link_params(html, "prev") == {**kept, "sort": ["-name"], "page": ["1"]}
    name_link = re.search(r'<a class="sort-link" href="([^"]*)"[^>]*>Name<', html)
    updated_link = re.search(r'<a class="sort-link" href="([^"]*)"[^>]*>Last updated<', html)
    assert name_link
    assert updated_link
    # Sorting starts again at page 1; the name column toggles, updated starts newest first.
    assert parse_qs(urlsplit(unescape(name_link[1])).query) == {**kept, "sort": ["name"]}
    assert parse_qs(urlsplit(unescape(updated_link[1])).query) == {**kept, "sort": ["-updated"]}
    assert '<th scope="col" aria-sort="descending">' in html


def test_search_term_with_url_characters_survives_the_links(client: Client) -> None:
    Connection.objects.bulk_create(
        Connection(name=f"R&D #{index:02d} ?x=1", api_type="merchant") for index in range(60)
    )

    html = listing(client, "?" + urlencode({"q": "r&d #", "sort": "-name"}))

    assert link_params(html, "next") == {"q": ["r&d #"], "sort": ["-name"], "page": ["2"]}
    assert len(names_in(html)) == 50


def test_every_link_and_the_form_work_without_javascript_and_ask_htmx_for_the_results(
    client: Client,
) -> None:
    bulk(60)

    html = listing(client, "?sort=-name")

    form = re.search(r"<form id=\"connection-filters\"[^>]*>", html, re.S)
    assert form
    assert 'method="get" action="/connections/"' in form[0]
    assert 'hx-get="/connections/"' in form[0]
    assert 'hx-target="#results"' in form[0]
    assert 'hx-push-url="true"' in form[0]
    search = re.search(r"<input type=\"search\"[^>]*>", html, re.S)
    assert search
    assert 'hx-trigger="input changed delay:300ms, search"' in search[0]
    assert 'hx-include="#connection-filters"' in search[0]
    for select in re.findall(r"<select[^>]*>", html, re.S):
        assert 'hx-trigger="change"' in select
        assert 'hx-include="#connection-filters"' in select
    assert '<button type="submit" class="btn">Search</button>' in html
    # The sort rides with the form (for search and filters) from inside the results.
    assert '<input type="hidden" name="sort" value="-name" form="connection-filters">' in html
    links = re.findall(r'<a class="(?:sort-link|btn btn--small)"[^>]*>', html)
    assert len(links) == 3  # two column headers and "Next"
    for link in links:
        href = re.search(r'href="([^"]*)"', link)
        assert href
        assert href[1].startswith("/connections/?")
        assert f'hx-get="{href[1]}"' in link
        assert 'hx-target="#results"' in link
        assert 'hx-push-url="true"' in link


def test_htmx_gets_only_the_results_partial(client: Client) -> None:
    bulk(60)

    full = client.get("/connections/?sort=-name&page=2")
    partial = client.get("/connections/?sort=-name&page=2", headers=HTMX)
    html = partial.content.decode()

    assert partial.status_code == 200
    assert "<html" not in html
    assert 'id="connection-filters"' not in html  # the search box keeps focus and caret
    assert "topnav" not in html
    assert names_in(html) == names_in(full.content.decode())
    assert "Page 2 of 2" in html
    assert '<input type="hidden" name="sort" value="-name" form="connection-filters">' in html
    # The results inside the full page are exactly what htmx swaps in.
    results = re.search(r'<div id="results">(.*)</div>\s*</main>', full.content.decode(), re.S)
    assert results
    assert results[1].strip() == html.strip()
    for response in (full, partial):
        assert "HX-Request" in response["Vary"]


def test_htmx_history_restore_gets_the_whole_page(client: Client) -> None:
    bulk(3)

    html = listing(client, "?q=conn", **HTMX, **{"HX-History-Restore-Request": "true"})

    assert "<html" in html
    assert 'id="connection-filters"' in html


def test_htmx_search_without_any_connection_says_none_yet(client: Client) -> None:
    html = listing(client, "?q=x", **HTMX)

    assert "<html" not in html
    assert "No connections yet" in html


# --- The page around the results ------------------------------------------------------------------


def test_each_viewer_sees_their_own_name_and_buttons(editor: User) -> None:
    bulk(1)
    viewer = make_user("victor", "view")

    for user, may_add in ((editor, True), (viewer, False), (editor, True)):
        html = listing(client_for(user))
        assert f'title="Signed in">{user.username}<' in html
        assert (CREATE_LINK in html) is may_add
        assert ('<a href="/admin/">Admin</a>' in html) is user.is_staff
        assert names_in(html) == ["Connection 0000"]


def test_empty_list_keeps_the_create_button_for_those_allowed(editor: User) -> None:
    viewer_page = listing(client_for(make_user("victor", "view")))
    editor_page = listing(client_for(editor))

    assert "No connections yet" in viewer_page
    assert "Ask an administrator for permission to add connections." in viewer_page
    assert '<a class="btn btn--primary" href="/connections/new/">Create connection</a>' in (
        editor_page
    )


def test_csrf_token_of_the_page_works_in_the_form_and_in_htmx_headers(editor: User) -> None:
    bulk(1)
    client = client_for(editor, enforce_csrf_checks=True)
    html = listing(client)
    field = re.search(r'name="csrfmiddlewaretoken" value="([^"]*)"', html)
    header = re.search(r"<body hx-headers='([^']*)'>", html)
    assert field
    assert header

    refused = client.post("/connections/test/", {"csrfmiddlewaretoken": "A" * 64})
    by_header = client.post(
        "/connections/test/", headers={**HTMX, "X-CSRFToken": json.loads(header[1])["X-CSRFToken"]}
    )
    by_field = client.post("/accounts/logout/", {"csrfmiddlewaretoken": field[1]})

    assert refused.status_code == 403
    assert by_header.status_code == 200
    assert by_field.status_code == 302
    assert client.get("/connections/").status_code == 302  # signed out


def test_message_shows_once(client: Client) -> None:
    bulk(1)
    storage = CookieStorage(RequestFactory().get("/"))
    storage.add(constants.SUCCESS, "Hello exactly once")
    response = HttpResponse()
    storage.update(response)
    client.cookies[storage.cookie_name] = response.cookies[storage.cookie_name].value

    first, second = listing(client), listing(client)

    assert first.count("Hello exactly once") == 1
    assert "Hello exactly once" not in second


def test_dates_are_shown_in_the_active_time_zone(client: Client) -> None:
    bulk(1)
    Connection.objects.update(updated_at=datetime(2026, 11, 25, 20, 36, tzinfo=UTC))

    utc = listing(client)
    with timezone.override("Asia/Kathmandu"):
        kathmandu = listing(client)

    assert '<time datetime="2026-11-25T20:36:00+00:00">25 Nov 2026, 20:36</time>' in utc
    assert '<time datetime="2026-11-26T02:21:00+05:45">26 Nov 2026, 02:21</time>' in kathmandu


# --- Cost ----------------------------------------------------------------------------------------


LIST_QUERIES = [
    "",
    "?sort=-updated",
    "?page=2",
    "?q=connection 00",
    "?api_type=merchant&status=online&sort=-name&page=3",
    "?q=nothing-matches",
]


def queries_per_request(client: Client, query: str, **headers: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        listing(client, query, **headers)
    return [entry["sql"] for entry in captured.captured_queries]


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "partial"])
def test_queries_per_request_are_the_same_for_5_and_500_connections(
    client: Client, htmx: bool
) -> None:
    headers = HTMX if htmx else {}
    counts = {}
    for size in (5, 500):
        Connection.objects.all().delete()
        Connection.objects.bulk_create(
            Connection(
                name=f"Connection {index:04d}",
                api_type=("merchant", "storefront")[index % 2],
                status=("online", "offline", "untested")[index % 3],
            )
            for index in range(size)
        )
        counts[size] = {
            query: len(queries_per_request(client, query, **headers)) for query in LIST_QUERIES
        }

    assert counts[5] == counts[500]
    # Session, user, the user's and the groups' permissions, the count and the page's rows;
    # an empty filtered result asks once more whether any connection exists at all.
    assert counts[500][""] == 6
    assert counts[500]["?q=nothing-matches"] == 6


def test_list_leaves_secrets_and_test_messages_in_the_database(client: Client) -> None:
    bulk(3)

    rows = [sql for sql in queries_per_request(client, "") if "ORDER BY" in sql]

    assert len(rows) == 1
    for column in ("api_key_encrypted", "password_encrypted", "last_test_message"):
        assert column not in rows[0]


def test_list_view_and_selector_agree_on_the_rows(client: Client) -> None:
    seed_mix()

    html = listing(client, "?api_type=storefront&sort=-name")

    expected = selectors.connection_list(api_type="storefront", sort="-name")
    assert names_in(html) == [connection.name for connection in expected][: views.PAGE_SIZE]
