"""End to end in Chromium: the Data section fetches, shows a row's JSON, pages on and downloads."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Permission, User
from playwright.sync_api import Browser, Page, ViewportSize, expect

from connections.models import Connection, ConnectionEvent
from tests.browser.checks import assert_accessible, shot
from tests.browser.conftest import DESKTOP, PHONE
from tests.factories import make_user, okendo_connection, signed_in_page

pytestmark = pytest.mark.browser


@pytest.fixture
def reader(transactional_db) -> User:
    user = make_user("rita", "view")
    user.user_permissions.add(Permission.objects.get(codename="read_data"))
    return User.objects.get(pk=user.pk)


def _reader_page(browser: Browser, url: str, user: User, viewport: ViewportSize, js: bool = True):
    return signed_in_page(browser, url, user, viewport=viewport, java_script=js)


@pytest.fixture(params=[("desktop", DESKTOP), ("phone", PHONE)], ids=["1280", "390"])
def sized_page(request, browser: Browser, live_server, reader: User) -> Iterator[tuple[str, Page]]:
    name, viewport = request.param
    for page in _reader_page(browser, live_server.url, reader, viewport):
        yield name, page


def test_fetch_open_a_rows_json_next_page_and_download(sized_page, okendo) -> None:
    size, page = sized_page
    okendo.serve_reviews(okendo.user_id, 12)
    # A random-looking key: the fixture's runs of zeros would be redacted in every review id.
    okendo.api_key = "sk_test_Qm7xW2pL9vR4tZ8kN3bH6jD1fG5s"
    okendo.add_merchant(okendo.user_id, okendo.api_key)
    connection = okendo_connection(okendo, name="EU store reviews", status="online")
    page.goto(f"/connections/{connection.pk}/")
    section = page.locator("#data")
    expect(section.get_by_role("heading", name="Data")).to_be_visible()
    assert_accessible(page, f"data-empty-{size}")

    # The resource switch swaps the fields in place (htmx), then back.
    section.get_by_label("Resource").select_option("customer")
    expect(section.get_by_label("Email")).to_be_visible()
    expect(section.get_by_label("Page size")).to_have_count(0)
    section.get_by_label("Resource").select_option("reviews")
    expect(section.get_by_label("Page size")).to_be_visible()

    section.get_by_label("Page size").fill("5")
    section.get_by_role("button", name="Fetch").click()
    rows = section.locator("tbody tr")
    expect(rows).to_have_count(5)
    expect(section.locator(".data-page")).to_contain_text("Page 1")
    first_title = rows.first.locator("td").nth(2).inner_text()

    rows.first.locator("summary").click()
    shown = rows.first.locator("pre")
    expect(shown).to_be_visible()
    record = json.loads(shown.inner_text())
    assert record["title"] == first_title
    assert_accessible(page, f"data-fetched-{size}")
    shot(page, f"data-fetched-{size}")

    section.get_by_role("link", name="Next page").click()
    expect(section.locator(".data-page")).to_contain_text("Page 2")
    expect(rows).to_have_count(5)
    assert rows.first.locator("td").nth(2).inner_text() != first_title
    shot(page, f"data-next-page-{size}")

    with page.expect_download() as caught:
        section.get_by_role("button", name="Download CSV").click()
    download = caught.value
    assert download.suggested_filename.startswith("okendo-reviews-")
    assert download.suggested_filename.endswith(".csv")
    text = download.path().read_text(encoding="utf-8")
    rows_in_file = list(csv.reader(io.StringIO(text)))
    assert len(rows_in_file) == 13  # header and 12 reviews (every page, not the preview's)
    assert okendo.api_key not in text
    assert ConnectionEvent.objects.filter(connection=connection, action="exported").count() == 1
    assert Connection.objects.get(pk=connection.pk).status == Connection.Status.ONLINE


def test_loyalty_off_shows_the_outcome_in_place(browser, live_server, reader, okendo) -> None:
    okendo.disable_loyalty(okendo.user_id)
    connection = okendo_connection(okendo, status="online")
    for page in _reader_page(browser, live_server.url, reader, PHONE):
        page.goto(f"/connections/{connection.pk}/")
        section = page.locator("#data")
        section.get_by_label("Resource").select_option("loyalty_customer")
        section.get_by_label("Email").fill("sam@example.com")
        section.get_by_role("button", name="Fetch").click()
        alert = section.locator("[data-outcome]")
        expect(alert).to_have_attribute("data-outcome", "forbidden")
        expect(alert).to_contain_text("Loyalty is not enabled for this store")
        assert_accessible(page, "data-loyalty-off-390")
        shot(page, "data-loyalty-off-390")


def test_without_javascript_the_data_section_is_a_plain_get_form(
    browser, live_server, reader, okendo
) -> None:
    okendo.serve_reviews(okendo.user_id, 4)
    connection = okendo_connection(okendo, status="online")
    for page in _reader_page(browser, live_server.url, reader, DESKTOP, js=False):
        page.goto(f"/connections/{connection.pk}/")
        section = page.locator("#data")
        section.get_by_label("Resource").select_option("customer")
        section.get_by_role("button", name="Change").click()
        assert page.url.startswith(f"{live_server.url}/connections/{connection.pk}/data/?")
        expect(page.locator("#data").get_by_label("Email")).to_be_visible()
        page.locator("#data").get_by_label("Resource").select_option("reviews")
        page.locator("#data").get_by_role("button", name="Change").click()
        page.locator("#data").get_by_label("Page size").fill("3")
        page.locator("#data").get_by_label("Page size").press("Enter")
        expect(page.locator("#data tbody tr")).to_have_count(3)
        page.locator("#data").get_by_role("link", name="Next page").click()
        expect(page.locator("#data tbody tr")).to_have_count(1)
        shot(page, "data-no-js-1280")
