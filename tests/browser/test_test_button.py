"""End to end in Chromium: the Test buttons show progress, then the outcome, in place."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from connections.models import Connection, ConnectionEvent
from tests.fake_okendo import FakeOkendo

pytestmark = pytest.mark.browser

SLOW_SECONDS = 1.0  # slower than a click, faster than the read timeout: a visible "Testing…"


def _saved_connection(okendo, editor) -> Connection:
    connection = Connection(name="EU store reviews", api_type="merchant", user_id=okendo.user_id)
    connection.set_api_key(okendo.api_key, by=editor)
    connection.save()
    return connection


def test_detail_test_button_shows_progress_then_outcome_status_and_history(
    page: Page, okendo, editor, screenshots
) -> None:
    connection = _saved_connection(okendo, editor)
    FakeOkendo.respond_slowly(okendo, SLOW_SECONDS)  # answers 200, just late
    page.goto(f"/connections/{connection.pk}/")
    expect(page.locator("#connection-status")).to_have_text("Untested")

    button = page.get_by_role("button", name="Test", exact=True)
    button.click()

    # While Okendo is thinking: the button is disabled and the progress line shows.
    expect(button).to_be_disabled()
    expect(page.locator("#test-progress")).to_have_class(
        "htmx-indicator actions__progress muted small htmx-request"
    )
    expect(page.locator("#test-progress")).to_have_css("opacity", "1")  # after htmx's fade-in
    page.screenshot(path=screenshots / "detail-testing-desktop.png", full_page=True)

    result = page.locator("#test-result [data-outcome]")
    expect(result).to_have_attribute("data-outcome", "ok", timeout=10_000)
    expect(result).to_contain_text("Okendo accepted this User ID and API key")
    expect(button).to_be_enabled()
    expect(page.locator("#test-progress")).to_be_hidden()
    # The badge and the history follow without a reload.
    expect(page.locator("#connection-status")).to_have_text("Online")
    expect(page.locator("#history .timeline__action").first).to_have_text("Tested")
    page.screenshot(path=screenshots / "detail-tested-desktop.png", full_page=True)

    connection.refresh_from_db()
    assert connection.status == Connection.Status.ONLINE
    assert ConnectionEvent.objects.filter(connection=connection, action="tested").count() == 1


def test_form_test_button_checks_typed_values_without_saving(
    page: Page, okendo, screenshots
) -> None:
    page.goto("/connections/new/")
    page.get_by_role("textbox", name="Name", exact=True).fill("Typed but unsaved")
    page.get_by_role("textbox", name="User ID", exact=True).fill(okendo.user_id)
    api_key = page.get_by_role("textbox", name="API key", exact=True)
    api_key.fill("sk_test_NOT_THE_KEY_OKENDO_KNOWS_01")

    page.get_by_role("button", name="Test connection").click()

    result = page.locator("#test-result [data-outcome]")
    expect(result).to_have_attribute("data-outcome", "auth_failed", timeout=10_000)
    expect(result).to_contain_text("Settings › Integrations › Credentials")  # noqa: RUF001
    # Only the result was swapped in: what the user typed is still there to correct.
    expect(api_key).to_have_value("sk_test_NOT_THE_KEY_OKENDO_KNOWS_01")
    page.screenshot(path=screenshots / "form-test-auth-failed-desktop.png", full_page=True)

    api_key.fill(okendo.api_key)
    page.get_by_role("button", name="Test connection").click()
    expect(result).to_have_attribute("data-outcome", "ok", timeout=10_000)
    page.screenshot(path=screenshots / "form-test-ok-desktop.png", full_page=True)

    assert not Connection.objects.exists()
    assert okendo.requests[-1].headers["authorization"].startswith("Basic ")
