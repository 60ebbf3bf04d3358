"""In Chromium: a session changed in another tab, or a failed htmx request, is never silent.

The cases of issue 12 item 2, as a person meets them: sign out (or out and back
in) in a second tab, then press Test connection or Create connection in the
first. Plus any failed htmx answer (500, no answer) in the app and the admin.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, Page, expect

from connections.models import Connection
from tests.browser.conftest import DESKTOP
from tests.factories import CONNECTION_ACTIONS, create_connection, make_user, signed_in_page

pytestmark = pytest.mark.browser

SIGN_IN_PASSWORD = "pw_test_NOT_A_REAL_SIGN_IN_0001"
TYPED_KEY = "sk_test_NOT_A_REAL_KEY_TYPED_001"


@pytest.fixture
def person(transactional_db) -> User:
    user = make_user("pat", *CONNECTION_ACTIONS, is_staff=True)
    user.set_password(SIGN_IN_PASSWORD)
    user.save()
    return user


@pytest.fixture
def tab(browser: Browser, live_server, person: User) -> Iterator[Page]:
    yield from signed_in_page(browser, live_server.url, person, viewport=DESKTOP)


def fill_create_form(page: Page, user_id: str) -> None:
    page.goto("/connections/new/")
    page.get_by_role("textbox", name="Name", exact=True).fill("Typed before the sign-out")
    page.get_by_role("textbox", name="User ID", exact=True).fill(user_id)
    page.get_by_role("textbox", name="API key", exact=True).fill(TYPED_KEY)


def sign_out_in_another_tab(page: Page) -> Page:
    other = page.context.new_page()
    other.goto("/connections/")
    other.get_by_role("button", name="Sign out").click()
    expect(other.get_by_role("heading", name="Sign in")).to_be_visible()
    return other


def sign_in(page: Page, user: User) -> None:
    page.get_by_role("textbox", name="Username").fill(user.get_username())
    page.get_by_label("Password").fill(SIGN_IN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_test_button_after_sign_out_elsewhere_goes_to_login_and_back_to_the_form(
    tab: Page, person: User, okendo, screenshots
) -> None:
    fill_create_form(tab, okendo.user_id)
    sign_out_in_another_tab(tab)

    tab.get_by_role("button", name="Test connection").click()

    # The whole tab goes to the login page: no login page nested in the result box.
    expect(tab.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(tab.locator("main")).to_have_count(1)
    assert "next=/connections/new/" in tab.url.replace("%2F", "/")
    tab.screenshot(path=screenshots / "session-signed-out-login.png", full_page=True)

    sign_in(tab, person)

    expect(tab.get_by_role("heading", name="Create connection")).to_be_visible()
    assert tab.url.endswith("/connections/new/")
    assert okendo.requests == []  # nothing was tested while signed out


def test_test_button_after_sign_in_elsewhere_says_the_session_changed_then_create_explains(
    tab: Page, person: User, okendo, screenshots
) -> None:
    fill_create_form(tab, okendo.user_id)
    other = sign_out_in_another_tab(tab)
    sign_in(other, person)
    expect(other.get_by_role("heading", name="Connections", exact=True)).to_be_visible()

    tab.get_by_role("button", name="Test connection").click()

    result = tab.locator("#test-result [data-outcome]")
    expect(result).to_have_attribute("data-outcome", "session_changed")
    expect(result).to_contain_text("Your session changed")
    expect(result).to_contain_text("enter your values again")
    expect(tab.get_by_role("button", name="Test connection")).to_be_enabled()
    tab.screenshot(path=screenshots / "session-changed-test.png", full_page=True)

    tab.get_by_role("button", name="Create connection").click()

    expect(tab.get_by_role("heading", name="Your session changed")).to_be_visible()
    expect(tab.locator(".topbar")).to_be_visible()  # the site's layout, not Django's bare page
    expect(tab.get_by_role("link", name="Reload the page")).to_have_attribute(
        "href", "/connections/new/"
    )
    assert TYPED_KEY not in tab.content()
    tab.screenshot(path=screenshots / "session-changed-create.png", full_page=True)
    assert okendo.requests == []
    assert not Connection.objects.exists()

    tab.get_by_role("link", name="Reload the page").click()
    expect(tab.get_by_role("heading", name="Create connection")).to_be_visible()


def test_test_button_shows_a_message_for_a_server_error_and_for_no_answer(
    tab: Page, okendo
) -> None:
    fill_create_form(tab, okendo.user_id)
    result = tab.locator("#test-result [data-outcome]")

    tab.route("**/connections/test/", lambda route: route.fulfill(status=500, body="boom"))
    tab.get_by_role("button", name="Test connection").click()
    expect(result).to_have_attribute("data-outcome", "request_failed")
    expect(result).to_contain_text("The server could not answer (HTTP 500)")
    assert "boom" not in tab.inner_text("#test-result")

    tab.unroute("**/connections/test/")
    tab.route("**/connections/test/", lambda route: route.abort())
    tab.get_by_role("button", name="Test connection").click()
    expect(result).to_contain_text("No answer from the server")
    expect(tab.get_by_role("button", name="Test connection")).to_be_enabled()


def test_detail_test_button_shows_a_message_for_a_403(tab: Page, person: User) -> None:
    connection = create_connection(
        person,
        name="EU reviews",
        account_id="1c8f0b3e-3f5a-4d4e-9a57-2f0c8e9b6d21",
        secret="sk_test_NOT_A_REAL_KEY_000000001",
    )
    tab.goto(f"/connections/{connection.pk}/")
    tab.route(f"**/connections/{connection.pk}/test/", lambda route: route.fulfill(status=403))

    tab.get_by_role("button", name="Test", exact=True).click()

    expect(tab.locator("#test-result")).to_contain_text("Not allowed (HTTP 403)")


def test_type_switch_failing_keeps_the_fields_and_says_so(tab: Page, okendo) -> None:
    fill_create_form(tab, okendo.user_id)
    tab.route("**/connections/new/?*", lambda route: route.fulfill(status=502))

    tab.locator('input[name="api_type"][value="storefront"]').check()

    message = tab.locator("#credential-fields .htmx-error")
    expect(message).to_contain_text("The server could not answer (HTTP 502)")
    # Above the fields, not instead of them: what was typed is still there.
    expect(tab.get_by_role("textbox", name="User ID", exact=True)).to_have_value(okendo.user_id)


def test_type_switch_after_a_failed_save_carries_the_user_id_and_fixes_the_summary(
    tab: Page, screenshots
) -> None:
    tab.goto("/connections/new/")
    tab.get_by_role("textbox", name="User ID", exact=True).fill(
        "1c8f0b3e-3f5a-4d4e-9a57-2f0c8e9b6d21"
    )
    tab.get_by_role("button", name="Create connection").click()
    summary = tab.locator("#error-summary")
    expect(summary.get_by_role("link")).to_have_text(["Name", "API key"])

    tab.locator('input[name="api_type"][value="storefront"]').check()

    expect(tab.get_by_role("textbox", name="Username", exact=True)).to_have_value(
        "1c8f0b3e-3f5a-4d4e-9a57-2f0c8e9b6d21"
    )
    expect(summary.get_by_role("link")).to_have_text(["Name"])
    tab.screenshot(path=screenshots / "form-switched-after-failed-save.png", full_page=True)


def test_admin_type_switch_after_sign_out_elsewhere_goes_to_login(tab: Page, person: User) -> None:
    connection = create_connection(
        person,
        name="EU reviews",
        account_id="1c8f0b3e-3f5a-4d4e-9a57-2f0c8e9b6d21",
        secret="sk_test_NOT_A_REAL_KEY_000000001",
    )
    change = f"/admin/connections/connection/{connection.pk}/change/"
    tab.goto(change)
    sign_out_in_another_tab(tab)

    # click, not check: the page goes to the login page before the radio could be seen checked.
    tab.locator('input[name="api_type"][value="storefront"]').click()

    expect(tab.get_by_role("heading", name="Sign in")).to_be_visible()
    sign_in(tab, person)
    expect(tab.locator("#id_name")).to_have_value("EU reviews")
    assert tab.url.endswith(change)


def test_admin_type_switch_failing_says_so_in_the_fieldset(tab: Page, person: User) -> None:
    tab.goto("/admin/connections/connection/add/")
    tab.route("**/connection/add/?*", lambda route: route.fulfill(status=500))

    tab.locator('input[name="api_type"][value="storefront"]').check()

    expect(tab.locator("fieldset.okendo-credentials .htmx-error")).to_contain_text(
        "The server could not answer (HTTP 500)"
    )
