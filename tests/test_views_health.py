"""The two Test entry points, with htmx and without JavaScript, against the fake Okendo."""

from __future__ import annotations

import re
import uuid

import pytest
from django.test import Client
from django.views.debug import SafeExceptionReporterFilter

from connections.models import Connection, ConnectionEvent
from connections.ratelimit import connection_test_lock
from tests.factories import (
    OTHER_ENCRYPTION_KEY,
    WRONG_KEY,
    client_for,
    make_user,
    okendo_connection,
    script_answer,
)

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}

# (how the fake answers, the outcome word shown)
OKENDO_ANSWERS = [
    ("200", "ok"),
    ("401", "auth_failed"),
    ("403", "forbidden"),
    ("404", "not_found"),
    ("429", "rate_limited"),
    ("429-date", "rate_limited"),
    ("500", "unavailable"),
    ("503", "unavailable"),
    ("slow", "unavailable"),
    ("reset", "unavailable"),
    ("400", "unexpected"),
    ("large", "unexpected"),
    ("not-json", "unexpected"),
]


def script(okendo, answer):
    if answer == "429-date":
        okendo.respond(429, headers={"Retry-After": "Wed, 21 Oct 2037 07:28:00 GMT"})
    else:
        script_answer(okendo, answer, declare_length=False)


def user_with(django_user_model, *codenames):
    """Return a client signed in as a new user with these connection permission codenames."""
    actions = [codename.removesuffix("_connection") for codename in codenames]
    return client_for(make_user(f"user-{uuid.uuid4().hex[:6]}", *actions))


@pytest.fixture
def admin_client(django_user_model):
    """A signed-in superuser, without the password hashing of pytest-django's fixture."""
    return client_for(django_user_model.objects.create_superuser("admin", password=None))


def html(response):
    return response.content.decode()


def shown_outcome(page):
    """Return the data-outcome inside #test-result (or a fragment), or None."""
    match = re.search(r' data-outcome="(\w+)"', page)
    return match[1] if match else None


def assert_no_secret(response, *secrets):
    body = html(response)
    for secret in secrets:
        assert secret not in body
    assert "Basic " not in body


def merchant_values(okendo, **overrides):
    return {
        "name": "EU reviews",
        "api_type": "merchant",
        "user_id": okendo.user_id,
        "api_key": okendo.api_key,
        **overrides,
    }


# --- Saved connection: POST /connections/<id>/test/ ------------------------------


@pytest.mark.parametrize(("answer", "outcome"), OKENDO_ANSWERS)
def test_saved_test_with_htmx_swaps_in_the_result_and_refreshes_the_status(
    admin_client, okendo, answer, outcome
):
    connection = okendo_connection(okendo)
    script(okendo, answer)

    response = admin_client.post(f"/connections/{connection.pk}/test/", **HTMX)

    page = html(response)
    assert response.status_code == 200
    assert "<html" not in page
    assert shown_outcome(page) == outcome
    connection.refresh_from_db()
    assert connection.last_test_outcome == outcome
    assert connection.last_test_message.replace("'", "&#x27;") in page
    assert f'id="connection-status" hx-swap-oob="true">{connection.get_status_display()}' in page
    # The result is the refreshed status summary, shown once and focused.
    assert page.count("data-outcome=") == 1
    assert re.search(r'id="health-summary" class="health-summary" tabindex="-1" autofocus', page)
    assert "hx-swap-oob" not in page.split('id="connection-status"', 1)[0]
    assert ConnectionEvent.objects.filter(connection=connection, action="tested").count() == 1
    history = page.split('id="history"', 1)[1]
    assert history.startswith(' aria-labelledby="history-title" hx-swap-oob="true"')
    assert '<span class="timeline__action">Tested</span>' in history
    assert_no_secret(response, okendo.api_key)


@pytest.mark.parametrize(("answer", "outcome"), OKENDO_ANSWERS)
def test_saved_test_without_javascript_redirects_back_and_shows_the_result_once(
    admin_client, okendo, answer, outcome
):
    connection = okendo_connection(okendo)
    script(okendo, answer)

    response = admin_client.post(f"/connections/{connection.pk}/test/")

    assert response.status_code == 302
    assert response["Location"] == f"/connections/{connection.pk}/"
    page = admin_client.get(response["Location"])
    assert shown_outcome(html(page)) == outcome
    assert '<div id="test-result" class="health-result" role="status">' in html(page)
    assert html(page).count("data-outcome=") == 1
    assert_no_secret(page, okendo.api_key)
    assert shown_outcome(html(admin_client.get(response["Location"]))) is None


def test_saved_storefront_test_says_the_password_is_not_verified(admin_client, okendo):
    connection = okendo_connection(okendo, api_type="storefront")

    response = admin_client.post(f"/connections/{connection.pk}/test/", **HTMX)

    assert shown_outcome(html(response)) == "ok"
    assert "does not verify the password" in html(response)
    assert_no_secret(response, okendo.password)


def test_saved_test_when_okendo_is_out_of_reach(admin_client, okendo_down):
    connection = okendo_connection(okendo_down, status=Connection.Status.ONLINE)

    response = admin_client.post(f"/connections/{connection.pk}/test/", **HTMX)

    assert shown_outcome(html(response)) == "unavailable"
    assert "No HTTP answer" in html(response)
    connection.refresh_from_db()
    assert connection.status == Connection.Status.ONLINE


def test_saved_test_of_an_undecryptable_secret_is_misconfigured(admin_client, okendo, settings):
    connection = okendo_connection(okendo)
    settings.CONNECTIONS_ENCRYPTION_KEY = OTHER_ENCRYPTION_KEY

    for headers in (HTMX, {}):
        response = admin_client.post(f"/connections/{connection.pk}/test/", **headers)
        if not headers:
            response = admin_client.get(response["Location"])
        assert response.status_code == 200
        assert shown_outcome(html(response)) == "misconfigured"
        assert "cannot decrypt the saved API key" in html(response)
    assert okendo.requests == []


def test_saved_test_while_another_runs_says_busy_and_records_nothing(admin_client, okendo):
    connection = okendo_connection(okendo)

    with connection_test_lock(str(connection.uid)):
        fragment = admin_client.post(f"/connections/{connection.pk}/test/", **HTMX)
        redirected = admin_client.post(f"/connections/{connection.pk}/test/")

    assert shown_outcome(html(fragment)) == "busy"
    assert "already running" in html(fragment)
    assert shown_outcome(html(admin_client.get(redirected["Location"]))) == "busy"
    assert okendo.requests == []
    assert not ConnectionEvent.objects.filter(connection=connection).exists()


def test_saved_test_needs_change_permission(django_user_model, okendo):
    connection = okendo_connection(okendo)
    viewer = user_with(django_user_model, "view_connection")
    editor = user_with(django_user_model, "view_connection", "change_connection")

    assert viewer.post(f"/connections/{connection.pk}/test/").status_code == 403
    assert "Test</button>" not in html(viewer.get(f"/connections/{connection.pk}/"))
    assert editor.post(f"/connections/{connection.pk}/test/").status_code == 302
    assert len(okendo.requests) == 1


def test_saved_test_sends_anonymous_users_to_login(client, okendo):
    connection = okendo_connection(okendo)

    response = client.post(f"/connections/{connection.pk}/test/")

    assert response.status_code == 302
    assert "/login/" in response["Location"]
    assert okendo.requests == []


def test_saved_test_is_post_only_with_csrf_and_404_for_unknown(okendo, django_user_model):
    connection = okendo_connection(okendo)
    admin = django_user_model.objects.create_superuser("root", password=None)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(admin)

    assert strict.get(f"/connections/{connection.pk}/test/").status_code == 405
    assert strict.post(f"/connections/{connection.pk}/test/").status_code == 403
    assert strict.post("/connections/999999/test/").status_code in (403, 404)
    assert okendo.requests == []
    loose = Client()
    loose.force_login(admin)
    assert loose.post("/connections/999999/test/").status_code == 404


def test_detail_page_test_button_posts_with_a_progress_indicator(admin_client, okendo):
    connection = okendo_connection(okendo)

    page = html(admin_client.get(f"/connections/{connection.pk}/"))

    assert f'action="/connections/{connection.pk}/test/"' in page
    assert f'hx-post="/connections/{connection.pk}/test/" hx-target="#test-result"' in page
    assert 'hx-indicator="#test-progress" hx-disabled-elt="find button"' in page
    assert 'id="test-progress" class="htmx-indicator' in page


# --- Typed values: POST /connections/test/ ----------------------------------------


@pytest.mark.parametrize(("answer", "outcome"), OKENDO_ANSWERS)
def test_typed_values_with_htmx_show_the_result_without_saving(
    admin_client, okendo, answer, outcome
):
    script(okendo, answer)

    response = admin_client.post("/connections/test/", merchant_values(okendo), **HTMX)

    assert response.status_code == 200
    assert "<html" not in html(response)
    assert shown_outcome(html(response)) == outcome
    assert "hx-swap-oob" not in html(response)
    assert not Connection.objects.exists()
    assert not ConnectionEvent.objects.exists()
    assert okendo.requests[0].basic_auth() == (okendo.user_id, okendo.api_key)
    assert_no_secret(response, okendo.api_key)


@pytest.mark.parametrize(("answer", "outcome"), OKENDO_ANSWERS)
def test_typed_values_without_javascript_redirect_back_with_the_result(
    admin_client, okendo, answer, outcome
):
    script(okendo, answer)

    response = admin_client.post("/connections/test/", merchant_values(okendo))

    assert response.status_code == 302
    assert response["Location"] == "/connections/new/"
    page = admin_client.get("/connections/new/")
    body = html(page)
    assert shown_outcome(body) == outcome
    assert 'name="name" value="EU reviews"' in body
    assert f'name="user_id" value="{okendo.user_id}"' in body
    assert re.search(r'<input type="password" name="api_key"(?![^>]*value=)', body)
    assert "Enter the API key again to save" in body
    assert_no_secret(page, okendo.api_key)
    assert okendo.api_key not in str(dict(admin_client.session))
    assert not Connection.objects.exists()


def test_typed_storefront_values_come_back_as_storefront_without_javascript(admin_client, okendo):
    values = {
        "name": "Storefront",
        "api_type": "storefront",
        "username": okendo.store_id,
        "password": okendo.password,
    }

    response = admin_client.post("/connections/test/", values)
    page = html(admin_client.get(response["Location"]))

    assert shown_outcome(page) == "ok"
    assert "does not verify the password" in page
    assert f'name="username" value="{okendo.store_id}"' in page
    assert 'name="user_id"' not in page
    assert okendo.password not in page


def test_typed_values_that_cannot_reach_okendo_are_unavailable(admin_client, okendo_down):
    response = admin_client.post("/connections/test/", merchant_values(okendo_down), **HTMX)

    assert shown_outcome(html(response)) == "unavailable"


def test_invalid_values_with_htmx_show_field_errors_in_the_page_and_send_nothing(
    admin_client, okendo
):
    values = merchant_values(okendo, user_id="not-a-uuid", name="")

    response = admin_client.post("/connections/test/", values, **HTMX)

    body = html(response)
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#main"
    assert response["HX-Reswap"] == "outerHTML"
    assert response["HX-Reselect"] == "#main"
    assert "The connection was not tested." in body
    assert "Enter a name for this connection." in body
    assert "must be the store&#x27;s Okendo User ID" in body
    assert 'action="/connections/new/"' in body  # Save still goes to the create view
    assert_no_secret(response, okendo.api_key)
    assert okendo.requests == []


def test_invalid_values_without_javascript_render_errors_like_a_save(admin_client, okendo):
    okendo_connection(okendo, name="Taken")

    response = admin_client.post("/connections/test/", merchant_values(okendo, name="taken"))

    body = html(response)
    assert response.status_code == 200
    assert "A connection named" in body
    assert "The connection was not tested." in body
    assert_no_secret(response, okendo.api_key)
    assert okendo.requests == []


def test_edit_page_test_uses_the_connection_so_its_own_name_is_allowed(admin_client, okendo):
    connection = okendo_connection(okendo, name="EU reviews")
    values = merchant_values(okendo, api_key=WRONG_KEY)

    fragment = admin_client.post(f"/connections/test/?connection={connection.pk}", values, **HTMX)
    redirected = admin_client.post(f"/connections/test/?connection={connection.pk}", values)

    assert shown_outcome(html(fragment)) == "auth_failed"
    assert redirected["Location"] == f"/connections/{connection.pk}/edit/"
    page = html(admin_client.get(redirected["Location"]))
    assert shown_outcome(page) == "auth_failed"
    assert WRONG_KEY not in page
    connection.refresh_from_db()
    assert connection.get_api_key().reveal() == okendo.api_key  # nothing saved
    assert connection.last_tested_at is None


def test_edit_page_carries_the_connection_in_its_test_url(admin_client, okendo):
    connection = okendo_connection(okendo)

    page = html(admin_client.get(f"/connections/{connection.pk}/edit/"))

    url = f"/connections/test/?connection={connection.pk}"
    assert f'formaction="{url}"' in page
    assert f'hx-post="{url}" hx-target="#test-result"' in page
    assert 'hx-indicator="#test-progress" hx-disabled-elt="this"' in page


def test_create_page_test_button_posts_the_form_with_a_progress_indicator(admin_client, okendo):
    page = html(admin_client.get("/connections/new/"))

    assert 'formaction="/connections/test/"' in page
    assert 'hx-post="/connections/test/" hx-target="#test-result"' in page
    assert 'id="test-progress" class="htmx-indicator' in page
    assert shown_outcome(page) is None


def test_result_flashed_for_one_page_is_not_shown_on_another(admin_client, okendo):
    connection = okendo_connection(okendo)
    admin_client.post("/connections/test/", merchant_values(okendo, name="Other"))

    assert shown_outcome(html(admin_client.get(f"/connections/{connection.pk}/"))) is None
    assert shown_outcome(html(admin_client.get("/connections/new/"))) is None


@pytest.mark.parametrize(
    ("codenames", "query", "status"),
    [
        (("view_connection",), "", 403),
        (("view_connection", "add_connection"), "", 302),
        (("view_connection", "add_connection"), "?connection={pk}", 403),
        (("view_connection", "change_connection"), "?connection={pk}", 302),
        (("view_connection", "change_connection"), "", 403),
        (("view_connection", "change_connection"), "?connection=abc", 404),
        (("view_connection", "change_connection"), "?connection=999999", 404),
        (("view_connection", "change_connection"), "?connection=²", 404),
        (("view_connection", "change_connection"), "?connection=99999999999999999999", 404),
        (("view_connection", "change_connection"), "?connection=-1", 404),
    ],
)
def test_typed_values_need_add_or_change_permission(
    django_user_model, okendo, codenames, query, status
):
    connection = okendo_connection(okendo, name="Existing")
    client = user_with(django_user_model, *codenames)

    response = client.post(
        "/connections/test/" + query.format(pk=connection.pk), merchant_values(okendo)
    )

    assert response.status_code == status
    assert len(okendo.requests) == (1 if status == 302 else 0)


def test_typed_values_send_anonymous_users_to_login(client, okendo):
    response = client.post("/connections/test/", merchant_values(okendo))

    assert response.status_code == 302
    assert "/login/" in response["Location"]
    assert okendo.requests == []


def test_typed_secrets_are_hidden_from_error_reports(admin_client, okendo):
    response = admin_client.post("/connections/test/", merchant_values(okendo), **HTMX)

    request = response.wsgi_request
    cleansed = SafeExceptionReporterFilter().get_post_parameters(request)
    assert cleansed["api_key"] != okendo.api_key
    assert cleansed["user_id"] == okendo.user_id
