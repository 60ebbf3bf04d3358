"""Issue 15 item 4 in Chromium, at 1280 px and at 390 px: the list page reads calmly.

Dates and column headers each sit on one line, "Never" is the size of a date, and
the search with its type and status filters is one compact toolbar. Each state of
the list (empty, with rows, searched and filtered, no match) is checked by axe-core
and saved as ``artifacts/screenshots/list-look-<state>-<width>.png``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, Page, expect

from connections.models import Connection
from tests.browser.checks import assert_accessible, shot
from tests.browser.conftest import DESKTOP, PHONE
from tests.factories import signed_in_page

pytestmark = pytest.mark.browser

VIEWPORTS = {"1280": DESKTOP, "390": PHONE}
NOW = datetime(2026, 11, 30, 12, 54, tzinfo=UTC)

# The lines an element's text is laid out on: its text's boxes, grouped where they overlap
# vertically (a date and an arrow icon side by side are one line; a wrapped date is two).
_LINES_JS = """el => {
  const rects = [];
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const range = document.createRange();
    range.selectNodeContents(node);
    for (const r of range.getClientRects()) if (r.width > 0 && r.height > 0) rects.push(r);
  }
  rects.sort((a, b) => a.top - b.top);
  let count = 0, bottom = -Infinity;
  for (const r of rects) {
    if (r.top >= bottom - 1) count += 1;
    bottom = Math.max(bottom, r.bottom);
  }
  return count;
}"""


@pytest.fixture(params=list(VIEWPORTS))
def width(request) -> str:
    return request.param


@pytest.fixture
def list_page(browser: Browser, live_server, editor: User, width: str):
    yield from signed_in_page(browser, live_server.url, editor, viewport=VIEWPORTS[width])


def seed() -> None:
    """Create rows with every status, long names, and dates of every width ("Never" too)."""
    rows = [
        ("EU store reviews", "merchant", "online", NOW - timedelta(hours=3)),
        ("US loyalty — storefront widget on the headless checkout", "storefront", "offline", NOW),
        ("Wholesale customers and groups (B2B portal, Germany)", "merchant", "untested", None),
        ("AU reviews", "storefront", "online", NOW - timedelta(days=40)),
        ("Staging", "merchant", "untested", None),
    ]
    Connection.objects.bulk_create(
        Connection(
            name=name,
            api_type=api_type,
            status=status,
            last_tested_at=tested,
            updated_at=NOW - timedelta(minutes=index),
        )
        for index, (name, api_type, status, tested) in enumerate(rows)
    )


def lines(page: Page, selector: str) -> list[int]:
    return page.locator(selector).evaluate_all(f"els => els.map({_LINES_JS})")


def check(page: Page, state: str, width: str) -> None:
    """Screenshot, axe-core and no horizontal scrolling."""
    shot(page, f"list-look-{state}-{width}")
    assert_accessible(page, f"list {state} at {width} px")
    assert page.evaluate("document.documentElement.scrollWidth") <= int(width)


def test_list_states_pass_axe(list_page: Page, width: str) -> None:
    page = list_page
    page.goto("/connections/")
    expect(page.get_by_role("heading", name="No connections yet")).to_be_visible()
    check(page, "empty", width)

    seed()
    page.goto("/connections/")
    expect(page.locator("tbody tr")).to_have_count(5)
    check(page, "rows", width)

    page.get_by_role("searchbox", name="Search by name").fill("reviews")
    page.get_by_label("API type").select_option("merchant")
    page.get_by_label("Status").select_option("online")
    expect(page.get_by_role("status")).to_have_text("1 connection matching “reviews”")
    check(page, "filtered", width)

    page.get_by_role("searchbox", name="Search by name").fill("nothing like it")
    expect(
        page.get_by_role("heading", name="No connections match “nothing like it”")
    ).to_be_visible()
    check(page, "no-match", width)


def line_height(page: Page, selector: str) -> float:
    """Return the computed line height of the first match of ``selector`` in px."""
    return page.locator(selector).first.evaluate("e => parseFloat(getComputedStyle(e).lineHeight)")


def test_dates_and_headers_sit_on_one_line(list_page: Page, width: str) -> None:
    seed()
    page = list_page
    page.goto("/connections/")
    dates = 'td[data-label="Last tested"], td[data-label="Last updated"]'
    expect(page.locator(dates)).to_have_count(10)

    assert lines(page, dates) == [1] * 10
    # Each date's text is about one line of its cell tall; two lines would be twice that.
    one_line = line_height(page, dates)
    heights = page.locator(dates).evaluate_all(
        "els => els.map(e => { const r = document.createRange(); r.selectNodeContents(e);"
        " return r.getBoundingClientRect().height; })"
    )
    assert all(0 < height < 1.5 * one_line for height in heights), (heights, one_line)
    exact = page.locator("time").evaluate_all("els => els.map(e => e.getAttribute('datetime'))")
    assert "2026-11-30T09:54:00+00:00" in exact

    if width == "1280":
        headers = page.locator("thead th")
        expect(headers).to_have_count(5)
        assert lines(page, "thead th") == [1] * 5
    else:
        # A card per connection: each label and its value share one line.
        expect(page.locator("thead")).to_be_hidden()
        cells = page.locator("tbody td:not(:first-child)").evaluate_all(
            "els => els.map(e => { const s = getComputedStyle(e);"
            " return e.getBoundingClientRect().height - parseFloat(s.paddingTop)"
            " - parseFloat(s.paddingBottom) < 1.5 * parseFloat(s.lineHeight); })"
        )
        assert len(cells) == 20
        assert all(cells), cells


def test_never_has_the_size_and_colour_of_a_date(list_page: Page) -> None:
    seed()
    page = list_page
    page.goto("/connections/")
    never = page.locator('td[data-label="Last tested"]', has_text="Never").first.locator("span")
    date = page.locator('td[data-label="Last tested"] time').first
    expect(never).to_have_text("Never")
    style = "e => [getComputedStyle(e).fontSize, getComputedStyle(e).color]"
    assert never.evaluate(style) == date.evaluate(style)


def test_search_and_filters_form_a_compact_toolbar(list_page: Page, width: str) -> None:
    seed()
    page = list_page
    page.goto("/connections/")
    controls = [
        page.get_by_role("searchbox", name="Search by name"),
        page.get_by_label("API type"),
        page.get_by_label("Status"),
        page.get_by_role("button", name="Search"),
    ]
    for control in controls:
        expect(control).to_be_visible()
    boxes = [box for control in controls if (box := control.bounding_box()) is not None]
    toolbar = page.locator("#connection-filters").bounding_box()
    assert toolbar is not None
    assert len(boxes) == 4
    assert all(box["x"] >= 0 and box["x"] + box["width"] <= int(width) for box in boxes)
    heights = {round(box["height"]) for box in boxes}
    assert len(heights) == 1, boxes  # one height for every control

    if width == "1280":
        # One row of 36 px controls, the search the widest, well short of the page's width.
        assert len({round(box["y"]) for box in boxes}) == 1, boxes
        assert heights == {36}
        assert toolbar["height"] <= 40
        assert boxes[0]["width"] == max(box["width"] for box in boxes)
        assert boxes[-1]["x"] + boxes[-1]["width"] - boxes[0]["x"] <= 720
    else:
        # The search alone on a row, full width; the filters and button on the next.
        search, *rest = boxes
        assert len({round(box["y"]) for box in rest}) == 1, boxes
        assert search["y"] + search["height"] <= rest[0]["y"]
        assert abs(search["width"] - toolbar["width"]) < 1
        assert abs(rest[-1]["x"] + rest[-1]["width"] - toolbar["x"] - toolbar["width"]) < 1
        assert heights == {40}  # a finger's target
        sizes = [control.evaluate("e => getComputedStyle(e).fontSize") for control in controls[:3]]
        assert sizes == ["16px"] * 3  # no zoom on focus


def test_a_second_page_passes_axe(list_page: Page, width: str) -> None:
    Connection.objects.bulk_create(
        Connection(name=f"Shop {index:02d}", api_type="merchant", last_tested_at=NOW)
        for index in range(60)
    )
    page = list_page
    page.goto("/connections/")
    page.get_by_role("link", name="Next →").click()
    expect(page.get_by_text("Page 2 of 2", exact=True)).to_be_visible()
    expect(page.locator("tbody tr")).to_have_count(10)
    assert lines(page, 'td[data-label="Last tested"]') == [1] * 10
    check(page, "page-2", width)
