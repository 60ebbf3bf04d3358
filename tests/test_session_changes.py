"""Requests that meet a signed-out session or a changed CSRF token: a way on, never silence.

htmx requests that need sign-in get ``HX-Redirect`` to the login page, whose
``next`` is the page the person was on (never a POST-only URL); POSTs without
htmx come back to their page too. A CSRF failure answers with a page in the
site's layout, or for htmx a fragment, saying the session changed.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import User
from django.test import Client

from connections.models import Connection
from tests.factories import (
    API_KEY,
    CONNECTION_ACTIONS,
    USER_ID,
    client_for,
    create_connection,
    make_user,
    merchant_post,
)

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


def htmx(current: str | None = None) -> dict[str, str]:
    headers = {"HX-Request": "true"}
    if current is not None:
        headers["HX-Current-URL"] = current
    return headers


@pytest.fixture
def editor() -> User:
    return make_user("erin", *CONNECTION_ACTIONS, is_staff=True)


@pytest.fixture
def merchant(editor: User) -> Connection:
    return create_connection(editor, name="EU reviews", account_id=USER_ID, secret=API_KEY)


def next_of(url: str) -> str | None:
    parts = urlsplit(url)
    values = parse_qs(parts.query).get("next")
    return values[0] if values else None


def assert_client_redirect(response, *, login: str, next_page: str | None) -> None:
    assert response.status_code == 200
    assert "Location" not in response
    target = response["HX-Redirect"]
    assert urlsplit(target).path == login
    assert next_of(target) == next_page
    assert b"<main" not in response.content  # no login page to nest anywhere


# --- htmx requests of a signed-out session ------------------------------------------------


def test_htmx_test_of_typed_values_redirects_to_login_back_to_the_create_page() -> None:
    response = Client().post(
        "/connections/test/", merchant_post(), headers=htmx("http://testserver/connections/new/")
    )

    assert_client_redirect(response, login=LOGIN, next_page="/connections/new/")


def test_htmx_next_keeps_the_query_of_the_page() -> None:
    response = Client().post(
        "/connections/test/",
        merchant_post(),
        headers=htmx("http://testserver/connections/new/?api_type=storefront"),
    )

    assert_client_redirect(response, login=LOGIN, next_page="/connections/new/?api_type=storefront")


@pytest.mark.parametrize(
    "current",
    [
        None,
        "https://evil.example/connections/new/",
        "//evil.example/connections/new/",
        "javascript:alert(1)",
        "http://testserver/connections/test/",
    ],
)
def test_htmx_next_is_never_another_site_nor_a_post_only_url(current: str | None) -> None:
    response = Client().post("/connections/test/", merchant_post(), headers=htmx(current))

    # The page that posts to /connections/test/ is the create page.
    assert_client_redirect(response, login=LOGIN, next_page="/connections/new/")


def test_htmx_test_from_the_edit_page_comes_back_to_it(merchant: Connection) -> None:
    response = Client().post(
        f"/connections/test/?connection={merchant.pk}", merchant_post(), headers=htmx()
    )

    assert_client_redirect(response, login=LOGIN, next_page=f"/connections/{merchant.pk}/edit/")


def test_htmx_test_of_a_saved_connection_comes_back_to_its_page(merchant: Connection) -> None:
    response = Client().post(
        f"/connections/{merchant.pk}/test/",
        headers=htmx(f"http://testserver/connections/{merchant.pk}/test/"),
    )

    assert_client_redirect(response, login=LOGIN, next_page=f"/connections/{merchant.pk}/")


def test_htmx_type_switch_comes_back_to_the_page_not_the_fragment(merchant: Connection) -> None:
    page = f"http://testserver/connections/{merchant.pk}/edit/"

    response = Client().get(
        f"/connections/{merchant.pk}/edit/?api_type=storefront", headers=htmx(page)
    )

    assert_client_redirect(response, login=LOGIN, next_page=f"/connections/{merchant.pk}/edit/")


def test_admin_htmx_type_switch_redirects_to_login_back_to_the_change_page(
    merchant: Connection,
) -> None:
    change = f"/admin/connections/connection/{merchant.pk}/change/"

    response = Client().get(
        f"{change}?api_type=storefront", headers=htmx(f"http://testserver{change}")
    )

    # LoginRequiredMiddleware sends the admin's pages to the site's login page too.
    assert_client_redirect(response, login=LOGIN, next_page=change)


def test_after_sign_in_the_next_page_answers_get(editor: User) -> None:
    response = Client().post("/connections/test/", merchant_post(), headers=htmx())
    client = client_for(editor)

    page = client.get(response["HX-Redirect"].split("next=")[1])

    assert page.status_code == 200
    assert "Create connection" in page.content.decode()


# --- Without htmx ---------------------------------------------------------------------------


def test_plain_post_of_the_test_button_comes_back_to_its_page(merchant: Connection) -> None:
    response = Client().post(
        "/connections/test/",
        merchant_post(),
        headers={"Referer": "http://testserver/connections/new/"},
    )

    assert response.status_code == 302
    assert urlsplit(response["Location"]).path == LOGIN
    assert next_of(response["Location"]) == "/connections/new/"

    saved = Client().post(f"/connections/{merchant.pk}/test/")
    assert next_of(saved["Location"]) == f"/connections/{merchant.pk}/"


def test_plain_get_and_sign_out_redirects_are_left_as_django_makes_them(editor: User) -> None:
    response = Client().get("/connections/new/?api_type=storefront")
    assert response["Location"] == f"{LOGIN}?next=/connections/new/%3Fapi_type%3Dstorefront"

    signed_out = client_for(editor).post("/accounts/logout/")
    assert signed_out["Location"] == LOGIN


# --- A changed CSRF token ------------------------------------------------------------------


@pytest.fixture
def csrf_client(editor: User) -> Client:
    client = client_for(editor, enforce_csrf_checks=True)
    client.cookies["csrftoken"] = "A" * 32  # a token from before the sign-in in another tab
    return client


def test_csrf_failure_is_a_page_in_the_sites_layout(csrf_client: Client) -> None:
    response = csrf_client.post(
        "/connections/new/",
        {**merchant_post(), "csrfmiddlewaretoken": "B" * 32},
        headers={"Referer": "http://testserver/connections/new/"},
    )

    html = response.content.decode()
    assert response.status_code == 403
    assert 'class="topbar"' in html  # base.html
    assert "Your session changed" in html
    assert "enter your values again" in html
    assert 'href="/connections/new/"' in html
    assert API_KEY not in html
    assert "CSRF verification failed" not in html  # Django's bare page
    assert not Connection.objects.exists()


def test_csrf_failure_of_htmx_is_a_fragment_marked_as_a_message(csrf_client: Client) -> None:
    response = csrf_client.post(
        "/connections/test/",
        merchant_post(),
        headers={**htmx("http://testserver/connections/new/"), "X-CSRFToken": "B" * 32},
    )

    html = response.content.decode()
    assert response.status_code == 403
    assert response["X-Error-Message"] == "true"
    assert "<main" not in html
    assert 'data-outcome="session_changed"' in html
    assert "Your session changed" in html
    assert 'href="/connections/new/"' in html
    assert API_KEY not in html
    assert USER_ID not in html


def test_every_page_loads_the_htmx_error_script(editor: User, merchant: Connection) -> None:
    client = client_for(editor)
    for url in (
        "/connections/",
        "/connections/new/",
        f"/connections/{merchant.pk}/",
        f"/connections/{merchant.pk}/edit/",
        f"/admin/connections/connection/{merchant.pk}/change/",
        "/admin/connections/connection/add/",
    ):
        assert "/static/js/htmx-errors.js" in client.get(url).content.decode(), url
