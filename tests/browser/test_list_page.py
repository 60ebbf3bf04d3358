"""End to end in Chromium: the list's search, filters, sort and pages, with and without JS."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from connections.models import Connection

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def connections(editor) -> None:
    rows = []
    for index in range(120):
        rows.append(
            Connection(
                name=f"{('Alpha', 'Beta')[index % 2]} shop {index:03d}",
                api_type=("merchant", "storefront")[index // 2 % 2],
                status=("online", "offline", "untested")[index % 3],
            )
        )
    Connection.objects.bulk_create(rows)


def shown_query(page: Page) -> dict[str, str]:
    """Return the address bar's query parameters that have a value."""
    pairs = parse_qs(urlsplit(page.url).query)
    return {key: values[-1] for key, values in pairs.items()}


def names(page: Page) -> list[str]:
    return page.locator("a.table__primary").all_inner_texts()


def expected(**filters: str) -> list[str]:
    rows = Connection.objects.filter(**filters).order_by("name")
    return [row.name for row in rows]


def test_search_filter_sort_and_page_swap_only_the_results(page: Page, screenshots) -> None:
    page.goto("/connections/")
    page.evaluate("window.notReloaded = true")
    search = page.get_by_role("searchbox", name="Search by name")

    search.press_sequentially("beta", delay=20)
    expect(page.get_by_role("status")).to_have_text("60 connections matching “beta”")
    assert shown_query(page) == {"q": "beta", "sort": "name"}
    assert names(page) == expected(name__icontains="beta")[:50]

    page.get_by_label("Status").select_option("offline")
    expect(page.get_by_role("status")).to_contain_text("20 connections")
    assert shown_query(page) == {"q": "beta", "status": "offline", "sort": "name"}
    assert names(page) == expected(name__icontains="beta", status="offline")

    page.get_by_label("Status").select_option("")
    expect(page.get_by_role("status")).to_contain_text("60 connections")
    page.get_by_role("link", name="Name").click()
    expect(page.locator("a.table__primary").first).to_have_text("Beta shop 119")
    assert shown_query(page) == {"q": "beta", "sort": "-name"}

    page.get_by_role("link", name="Next →").click()
    expect(page.get_by_text("Page 2 of 2", exact=True)).to_be_visible()
    assert shown_query(page) == {"q": "beta", "sort": "-name", "page": "2"}
    # The sort clicked in the results goes with the next search, from page 1.
    search.fill("beta shop 00")
    expect(page.get_by_role("status")).to_contain_text("5 connections")
    assert shown_query(page) == {"q": "beta shop 00", "sort": "-name"}
    assert names(page) == [f"Beta shop 00{digit}" for digit in (9, 7, 5, 3, 1)]
    expect(search).to_be_focused()
    assert page.evaluate("window.notReloaded") is True  # all of it without a page load
    page.screenshot(path=screenshots / "list-search-desktop.png", full_page=True)

    page.go_back()
    expect(page.get_by_text("Page 2 of 2", exact=True)).to_be_visible()
    assert shown_query(page)["page"] == "2"


def test_filters_sort_and_pages_work_without_javascript(no_js_page: Page) -> None:
    page = no_js_page
    page.goto("/connections/")

    page.get_by_role("searchbox", name="Search by name").fill("alpha")
    page.get_by_label("API type").select_option("storefront")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("status")).to_contain_text("30 connections")
    assert shown_query(page) == {"q": "alpha", "api_type": "storefront", "sort": "name"}
    assert names(page) == expected(name__icontains="alpha", api_type="storefront")

    page.get_by_role("link", name="Last updated").click()
    expect(page.get_by_role("link", name="Last updated")).to_be_visible()
    assert shown_query(page) == {"q": "alpha", "api_type": "storefront", "sort": "-updated"}
    expect(page.get_by_label("API type")).to_have_value("storefront")
    expect(page.get_by_role("searchbox", name="Search by name")).to_have_value("alpha")
