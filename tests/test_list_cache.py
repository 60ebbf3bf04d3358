"""The list page's cached results: every write shows at once, nothing else leaks between keys."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.template.defaultfilters import date as date_filter
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connections import selectors, services, views
from connections.models import Connection, ListVersion
from connections.sensitive import Secret
from connections.services import ConnectionData
from tests.factories import (
    CONNECTION_ACTIONS,
    STORE_ID,
    USER_ID,
    client_for,
    create_connection,
    make_user,
)

pytestmark = pytest.mark.django_db

API_KEY = "sk_test_NOT_A_REAL_KEY_LISTCACHE"
PASSWORD = "pw_test_NOT_A_REAL_PASSWORD_LIST01"


@pytest.fixture
def editor() -> User:
    return make_user("erin", *CONNECTION_ACTIONS, is_staff=True)


@pytest.fixture
def client(editor: User) -> Client:
    return client_for(editor)


def create(actor: User, name: str, *, account_id: str = USER_ID, secret: str = API_KEY):
    return create_connection(actor, name=name, account_id=account_id, secret=secret)


def listing(client: Client, query: str = "") -> str:
    response = client.get(f"/connections/{query}")
    assert response.status_code == 200
    return response.content.decode()


def results_of(html: str) -> str:
    """Return the cached part of a list page: from the search form to the end of the content."""
    start = html.index('<form method="get"')
    return html[start : html.index("</main>")]


def names_in(html: str) -> list[str]:
    return re.findall(r'class="table__primary" href="/connections/\d+/">([^<]+)<', html)


def row_of(html: str, name: str) -> str:
    pattern = rf'<tr>\s*<td data-label="Name">[^\n]*>{re.escape(name)}</a>.*?</tr>'
    match = re.search(pattern, html, re.S)
    assert match, f"no row for {name!r}"
    return match[0]


def lists_connections_table(queries: CaptureQueriesContext) -> bool:
    return any("connections_connection" in query["sql"] for query in queries.captured_queries)


# --- Every write shows on the next render -------------------------------------------------


def test_created_connection_shows_on_the_next_render(client: Client, editor: User) -> None:
    create(editor, "First shop")
    assert names_in(listing(client)) == ["First shop"]

    response = client.post(
        "/connections/new/",
        {"name": "Second shop", "api_type": "merchant", "user_id": USER_ID, "api_key": API_KEY},
    )

    assert response.status_code == 302
    assert names_in(listing(client)) == ["First shop", "Second shop"]


def test_renamed_and_retyped_connection_shows_on_the_next_render(
    client: Client, editor: User
) -> None:
    shop = create(editor, "Old name")
    assert "Old name" in listing(client)

    client.post(
        f"/connections/{shop.pk}/edit/",
        {"name": "New name", "api_type": "merchant", "user_id": USER_ID, "api_key": API_KEY},
    )
    renamed = listing(client)
    client.post(
        f"/connections/{shop.pk}/edit/",
        {"name": "New name", "api_type": "storefront", "username": STORE_ID, "password": PASSWORD},
    )
    retyped = listing(client)

    assert names_in(renamed) == ["New name"]
    assert '<span class="tag">Merchant</span>' in row_of(renamed, "New name")
    assert '<span class="tag">Storefront</span>' in row_of(retyped, "New name")


def test_deleted_connection_leaves_the_next_render(client: Client, editor: User) -> None:
    keep = create(editor, "Keep me")
    gone = create(editor, "Delete me")
    assert names_in(listing(client)) == ["Delete me", "Keep me"]

    client.post(f"/connections/{gone.pk}/delete/")

    assert names_in(listing(client)) == [keep.name]


def test_test_result_shows_status_and_time_on_the_next_render(
    client: Client, editor: User, okendo
) -> None:
    shop = create(editor, "Tested shop", account_id=okendo.user_id, secret=okendo.api_key)
    before = row_of(listing(client), "Tested shop")
    assert 'badge--untested">Untested<' in before
    assert '<span class="muted">Never</span>' in before

    services.connection_test(connection=shop, actor=editor)

    after = row_of(listing(client), "Tested shop")
    assert 'badge--online">Online<' in after
    shop.refresh_from_db()
    assert f'<time datetime="{timezone.localtime(shop.last_tested_at).isoformat()}">' in after


def test_failed_test_through_the_view_shows_offline_on_the_next_render(
    client: Client, editor: User, okendo
) -> None:
    shop = create(
        editor,
        "Wrong key shop",
        account_id=okendo.user_id,
        secret="sk_test_WRONG_KEY_NOT_A_REAL_001",
    )
    assert 'badge--untested">Untested<' in row_of(listing(client), "Wrong key shop")

    client.post(f"/connections/{shop.pk}/test/", HTTP_HX_REQUEST="true")

    assert 'badge--offline">Offline<' in row_of(listing(client), "Wrong key shop")


def test_admin_change_shows_on_the_next_render(client: Client, editor: User) -> None:
    shop = create(editor, "Admin shop")
    assert names_in(listing(client)) == ["Admin shop"]

    response = client.post(
        f"/admin/connections/connection/{shop.pk}/change/",
        {
            "name": "Renamed by admin",
            "api_type": "merchant",
            "user_id": USER_ID,
            "api_key": API_KEY,
        },
    )

    assert response.status_code == 302
    assert names_in(listing(client)) == ["Renamed by admin"]


def test_admin_bulk_delete_shows_on_the_next_render(client: Client, editor: User) -> None:
    shops = [create(editor, f"Bulk {index}") for index in range(3)]
    assert len(names_in(listing(client))) == 3

    client.post(
        "/admin/connections/connection/",
        {"action": "delete_selected", "_selected_action": [s.pk for s in shops[:2]], "post": "yes"},
    )

    assert names_in(listing(client)) == ["Bulk 2"]


# --- The version ---------------------------------------------------------------------------


def test_every_service_write_changes_the_version(editor: User, okendo) -> None:
    seen = {selectors.list_version()}
    shop = create(editor, "Shop", account_id=okendo.user_id, secret=okendo.api_key)
    seen.add(selectors.list_version())
    services.connection_update(
        connection=shop,
        actor=editor,
        data=ConnectionData(
            name="Shop 2",
            api_type="merchant",
            account_id=okendo.user_id,
            secret=Secret(okendo.api_key),
        ),
    )
    seen.add(selectors.list_version())
    services.connection_test(connection=shop, actor=editor)
    seen.add(selectors.list_version())
    services.connection_delete(connection=shop, actor=editor)
    seen.add(selectors.list_version())

    assert len(seen) == 5
    assert "" in seen  # the migration's "unknown" version, before the first write


def test_rolled_back_write_leaves_the_version_and_the_list_alone(
    client: Client, editor: User
) -> None:
    shop = create(editor, "Stays")
    version = selectors.list_version()
    cached = results_of(listing(client))
    bumped_inside = []

    def rename_then_fail() -> None:
        with transaction.atomic():
            services.connection_update(
                connection=shop,
                actor=editor,
                data=ConnectionData(
                    name="Never saved",
                    api_type="merchant",
                    account_id=USER_ID,
                    secret=Secret(API_KEY),
                ),
            )
            bumped_inside.append(selectors.list_version() != version)
            raise RuntimeError("the caller's transaction fails after the service returned")

    with pytest.raises(RuntimeError):
        rename_then_fail()

    assert bumped_inside == [True]  # the bump is part of the write...
    assert selectors.list_version() == version  # ...and rolled back with it
    assert results_of(listing(client)) == cached
    assert names_in(cached) == ["Stays"]


def test_refused_write_leaves_the_version_alone(editor: User) -> None:
    create(editor, "Taken")
    version = selectors.list_version()

    with pytest.raises(ValidationError, match="already exists"):
        create(editor, "TAKEN")

    assert selectors.list_version() == version


def test_rows_written_around_the_services_are_never_served_from_cache(client: Client) -> None:
    # Bulk imports skip the services; until a service write bumps it, the version is unknown.
    Connection.objects.bulk_create([Connection(name="Imported 1", api_type="merchant")])
    assert names_in(listing(client)) == ["Imported 1"]

    Connection.objects.bulk_create([Connection(name="Imported 2", api_type="merchant")])

    assert selectors.list_version() == ""
    assert names_in(listing(client)) == ["Imported 1", "Imported 2"]


def test_bump_recreates_the_version_row_after_a_flush(client: Client, editor: User) -> None:
    ListVersion.objects.all().delete()  # what flushing a test database does
    assert selectors.list_version() == ""
    assert "No connections yet" in listing(client)

    create(editor, "After flush")

    assert selectors.list_version() != ""
    assert names_in(listing(client)) == ["After flush"]


def test_write_around_the_services_shows_once_the_cache_times_out(
    client: Client, editor: User, monkeypatch
) -> None:
    shop = create(editor, "Before")
    assert names_in(listing(client)) == ["Before"]
    Connection.objects.filter(pk=shop.pk).update(name="After")  # no bump
    assert names_in(listing(client)) == ["Before"]

    later = time.time() + views.LIST_CACHE_SECONDS + 1
    later_monotonic = time.monotonic() + views.LIST_CACHE_SECONDS + 1

    class Later:
        @staticmethod
        def time() -> float:
            return later

    monkeypatch.setattr("django.core.cache.backends.locmem.time", Later)  # the results
    monkeypatch.setattr("connections.versions.monotonic", lambda: later_monotonic)  # pages

    assert names_in(listing(client)) == ["After"]


# --- One cache for every viewer, one entry per question ------------------------------------


def test_viewers_with_different_permissions_share_the_same_results(editor: User) -> None:
    for index in range(3):
        create(editor, f"Shop {index}")
    viewer_client = client_for(make_user("victor", "view"))
    editor_client = client_for(editor)

    seen_by_viewer = listing(viewer_client)
    with CaptureQueriesContext(connection) as queries:
        seen_by_editor = listing(editor_client)

    assert not lists_connections_table(queries)  # the editor got the viewer's cached results
    assert results_of(seen_by_editor) == results_of(seen_by_viewer)
    assert names_in(seen_by_editor) == ["Shop 0", "Shop 1", "Shop 2"]
    assert 'href="/connections/new/"' in seen_by_editor
    assert 'href="/connections/new/"' not in seen_by_viewer
    assert "victor" in seen_by_viewer
    assert "victor" not in seen_by_editor
    assert "erin" in seen_by_editor
    assert "erin" not in seen_by_viewer


def test_empty_list_keeps_the_create_button_for_those_allowed(editor: User) -> None:
    ListVersion.objects.filter(pk=1).update(token="known-and-empty")
    viewer_page = listing(client_for(make_user("victor", "view")))
    editor_page = listing(client_for(editor))

    assert "No connections yet" in viewer_page
    assert "Ask an administrator for permission to add connections." in viewer_page
    assert '<a class="btn btn--primary" href="/connections/new/">Create connection</a>' in (
        editor_page
    )


SEARCH_SORT_PAGE = [
    ("", "name", ""),
    ("", "name", "2"),
    ("", "-name", ""),
    ("", "-name", "2"),
    ("", "updated", ""),
    ("", "-updated", "3"),
    ("", "-updated", "999"),
    ("", "name", "abc"),
    ("alpha", "name", ""),
    ("alpha", "-updated", ""),
    ("ALPHA", "name", ""),
    ("beta", "name", "2"),
    ('["alpha", "name"', "name", ""),
    ("name", "name", "2"),
    ("zzz", "name", ""),
]


def test_search_sort_and_page_each_get_their_own_results(client: Client, editor: User) -> None:
    start = timezone.now()
    for index in range(55):
        create(editor, f"alpha {index:02d}")
        create(editor, f"Beta {index:02d}")
    # Spread the update times so each sort by update has its own order.
    for offset, shop in enumerate(Connection.objects.order_by("?")):
        Connection.objects.filter(pk=shop.pk).update(updated_at=start + timedelta(seconds=offset))
    services.list_version_bump()  # the updates above went around the services

    def expected(search: str, sort: str, page: str) -> list[str]:
        found = selectors.connection_list_page(
            search=search,
            sort=selectors.list_sort_or_default(sort),
            number=selectors.list_page_number(page or None),
            per_page=views.PAGE_SIZE,
        )
        return [row["name"] for row in found.rows]

    def query(search: str, sort: str, page: str) -> str:
        parts = [("q", search), ("sort", sort), ("page", page)]
        return "?" + urlencode([(key, value) for key, value in parts if value])

    first = {combo: names_in(listing(client, query(*combo))) for combo in SEARCH_SORT_PAGE}
    again = {combo: names_in(listing(client, query(*combo))) for combo in SEARCH_SORT_PAGE}

    for combo in SEARCH_SORT_PAGE:
        assert first[combo] == expected(*combo), combo
        assert again[combo] == first[combo], combo
    assert first[("", "name", "")] != first[("", "name", "2")]
    assert first[("", "name", "")] != first[("", "-name", "")]
    assert first[("", "updated", "")] != first[("", "-updated", "3")]
    assert first[("alpha", "name", "")] == first[("ALPHA", "name", "")]
    assert first[("zzz", "name", "")] == []


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
    Connection.objects.bulk_create(
        Connection(name=f"Connection {index:03d}", api_type="merchant") for index in range(120)
    )
    services.list_version_bump()
    query = f"?page={page}" if page else ""

    first, cached = listing(client, query), listing(client, query)

    assert f"Page {shown} of 3" in first
    assert names_in(cached) == names_in(first)
    assert names_in(first)[0] == f"Connection {(shown - 1) * 50:03d}"


def test_each_time_zone_gets_its_own_dates(client: Client, editor: User) -> None:
    shop = create(editor, "Zoned")
    Connection.objects.filter(pk=shop.pk).update(
        updated_at=datetime(2026, 11, 25, 20, 36, tzinfo=UTC)
    )
    services.list_version_bump()

    utc = listing(client)
    with timezone.override("Asia/Kathmandu"):
        kathmandu = listing(client)

    assert '<time datetime="2026-11-25T20:36:00+00:00">25 Nov 2026, 20:36</time>' in utc
    assert '<time datetime="2026-11-26T02:21:00+05:45">26 Nov 2026, 02:21</time>' in kathmandu


# --- Cost ------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [5, 500])
def test_cached_render_costs_a_constant_few_queries(
    client: Client, editor: User, django_assert_num_queries, count: int
) -> None:
    Connection.objects.bulk_create(
        Connection(name=f"Connection {index:04d}", api_type="merchant") for index in range(count)
    )
    services.list_version_bump()
    listing(client)

    # One round trip: the list's and the sign-in tokens; the session, the user and
    # the permissions come from this process's memory under the sign-in token.
    with django_assert_num_queries(1):
        html = listing(client)

    assert len(names_in(html)) == min(count, views.PAGE_SIZE)


# --- Dates exactly as the template filter wrote them -----------------------------------------


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    moment=st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    ),
    zone=st.sampled_from(["UTC", "Asia/Kathmandu", "America/St_Johns", "Europe/London"]),
)
def test_row_dates_match_the_date_filter(moment: datetime, zone: str) -> None:
    with timezone.override(zone):
        iso, text = views._list_time(moment)
        local = timezone.localtime(moment)  # what the filter gets in a template
        assert iso == date_filter(local, "c")
        assert text == date_filter(local, "j M Y, H:i")
