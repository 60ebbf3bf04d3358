"""In Chromium: the test run on the form counts when exactly those values are saved."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from connections.models import Connection

pytestmark = pytest.mark.browser


def fill(page: Page, okendo, api_key: str) -> None:
    page.goto("/connections/new/")
    page.get_by_role("textbox", name="Name", exact=True).fill("EU reviews")
    page.get_by_role("textbox", name="User ID", exact=True).fill(okendo.user_id)
    page.get_by_role("textbox", name="API key", exact=True).fill(api_key)


def test_a_passed_test_then_create_is_online_without_a_second_call(
    page: Page, okendo, screenshots
) -> None:
    fill(page, okendo, okendo.api_key)
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#test-result [data-outcome]")).to_have_attribute("data-outcome", "ok")

    page.get_by_role("button", name="Create connection").click()

    expect(page.locator("#connection-status")).to_have_text("Online")
    expect(page.get_by_text("The test you ran before saving is recorded")).to_be_visible()
    expect(page.locator("#history .timeline__action").first).to_have_text("Tested")
    page.screenshot(path=screenshots / "created-with-its-test.png", full_page=True)
    assert len(okendo.requests) == 1
    assert Connection.objects.get().status == Connection.Status.ONLINE


def test_a_value_changed_after_the_test_is_untested(page: Page, okendo) -> None:
    fill(page, okendo, okendo.api_key)
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#test-result [data-outcome]")).to_have_attribute("data-outcome", "ok")
    page.get_by_role("textbox", name="API key", exact=True).fill("sk_test_NOT_A_REAL_KEY_changed01")

    page.get_by_role("button", name="Create connection").click()

    expect(page.locator("#connection-status")).to_have_text("Untested")
    assert len(okendo.requests) == 1


def test_without_javascript_the_test_counts_too(no_js_page: Page, okendo) -> None:
    page = no_js_page
    fill(page, okendo, okendo.api_key)
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#test-result [data-outcome]")).to_have_attribute("data-outcome", "ok")
    # Secrets never come back: type it again, as the result's note says.
    page.get_by_role("textbox", name="API key", exact=True).fill(okendo.api_key)

    page.get_by_role("button", name="Create connection").click()

    expect(page.locator("#connection-status")).to_have_text("Online")
    assert len(okendo.requests) == 1
