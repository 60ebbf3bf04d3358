"""Keyboard only, against the fake Okendo: create a connection, test it, save it, test it again.

No click and no focus() call: Tab (and Shift+Tab) moves, the keyboard types,
Space and Enter press buttons.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from connections.models import Connection, ConnectionEvent
from tests.browser.checks import shot

pytestmark = pytest.mark.browser

MAX_TABS = 40


def _focused(page: Page) -> str:
    """Describe the focused element: its id, else its accessible text."""
    return page.evaluate(
        "() => { const e = document.activeElement; return e.id || (e.textContent || '').trim(); }"
    )


def _tab_to(page: Page, target: str, *, backwards: bool = False) -> None:
    """Press Tab (or Shift+Tab) until the element described as ``target`` has focus."""
    key = "Shift+Tab" if backwards else "Tab"
    for _ in range(MAX_TABS):
        if _focused(page) == target:
            return
        page.keyboard.press(key)
    raise AssertionError(f"{target!r} not reached with {key}; focus is on {_focused(page)!r}")


def test_create_test_and_save_a_connection_with_the_keyboard_only(page: Page, okendo) -> None:
    page.goto("/connections/new/")

    _tab_to(page, "id_name")
    page.keyboard.type("Keyboard shop")
    page.keyboard.press("Tab")
    assert _focused(page) == "id_api_type_merchant"  # the chosen type: Merchant
    page.keyboard.press("Tab")
    assert _focused(page) == "id_user_id"
    page.keyboard.type(okendo.user_id)
    page.keyboard.press("Tab")
    assert _focused(page) == "id_api_key"
    page.keyboard.type(okendo.api_key)

    # Test the typed values with Enter on "Test connection": the result takes focus.
    _tab_to(page, "Test connection")
    page.keyboard.press("Enter")
    result = page.locator("#test-result [data-outcome]")
    expect(result).to_have_attribute("data-outcome", "ok", timeout=10_000)
    expect(result).to_be_focused()
    assert not Connection.objects.exists()

    # Back to "Create connection" and press it with Space.
    _tab_to(page, "Create connection", backwards=True)
    page.keyboard.press("Space")
    expect(page.get_by_role("heading", name="Keyboard shop", level=1)).to_be_visible()
    connection = Connection.objects.get()
    assert connection.get_api_key().reveal() == okendo.api_key

    # On the detail page, test the saved connection: the status summary takes focus.
    _tab_to(page, "Test")
    page.keyboard.press("Enter")
    summary = page.locator("#health-summary")
    expect(summary).to_have_attribute("data-outcome", "ok", timeout=10_000)
    expect(summary).to_be_focused()
    shot(page, "look-keyboard-detail-tested-1280")
    connection.refresh_from_db()
    assert connection.status == Connection.Status.ONLINE
    assert ConnectionEvent.objects.filter(connection=connection, action="tested").count() == 1
