"""The list page kept whole per viewer: never crossed, CSRF fresh and working, messages once."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.contrib.messages import constants
from django.contrib.messages.storage.cookie import CookieStorage
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.utils import timezone, translation

from connections import services, views
from connections.models import Connection
from connections.sensitive import Secret
from connections.services import ConnectionData
from tests.factories import CONNECTION_ACTIONS, USER_ID, client_for, create_connection, make_user

pytestmark = pytest.mark.django_db

API_KEY = "sk_test_NOT_A_REAL_KEY_LISTPAGES"
# A well-formed masked token that no cookie's secret unmasks to.
WRONG_TOKEN = "A" * 64

ADMIN_LINK = '<a href="/admin/">Admin</a>'
CREATE_LINK = 'href="/connections/new/"'


@pytest.fixture(autouse=True)
def no_kept_pages():
    # Counts of kept pages below start from nothing, whatever earlier tests left.
    views._pages.clear()
    yield
    views._pages.clear()


@pytest.fixture
def alice() -> User:
    return make_user("alice", *CONNECTION_ACTIONS, is_staff=True)


@pytest.fixture
def bob() -> User:
    return make_user("bob", "view")


@pytest.fixture
def shop(alice: User) -> Connection:
    # Created through the service, so the list has a token and pages are kept at all.
    return create(alice, "First shop")


def create(actor: User, name: str) -> Connection:
    return create_connection(actor, name=name, account_id=USER_ID, secret=API_KEY)


def get_list(client: Client, query: str = ""):
    response = client.get(f"/connections/{query}")
    assert response.status_code == 200
    assert views._CSRF_PLACEHOLDER not in response.content.decode()
    return response


def listing(client: Client, query: str = "") -> str:
    return get_list(client, query).content.decode()


def was_rendered(response) -> bool:
    """Tell whether the response came from rendering the list template (not a kept page)."""
    return views.LIST_TEMPLATE in [template.name for template in response.templates]


def shown_user(html: str) -> str:
    match = re.search(r'<span class="topnav__user" title="Signed in">([^<]*)</span>', html)
    assert match, "no signed-in user in the top bar"
    return match[1]


def form_token(html: str) -> str:
    tokens = re.findall(r'name="csrfmiddlewaretoken" value="([^"]*)"', html)
    assert len(tokens) == 1, tokens
    return tokens[0]


def header_token(html: str) -> str:
    match = re.search(r"<body hx-headers='([^']*)'>", html)
    assert match, "no hx-headers on <body>"
    token: str = json.loads(match[1])["X-CSRFToken"]
    return token


def names_in(html: str) -> list[str]:
    return re.findall(r'class="table__primary" href="/connections/\d+/">([^<]+)<', html)


def values_test(client: Client, *, field: str = "", header: str = "") -> int:
    """POST an incomplete form to the typed-values test (nothing reaches Okendo); return the status.

    ``field`` goes in the form's token field, ``header`` in the X-CSRFToken header htmx sends.
    """
    data = {"csrfmiddlewaretoken": field} if field else {}
    headers = {"X-CSRFToken": header, "HX-Request": "true"} if header else {}
    return client.post("/connections/test/", data, headers=headers).status_code


def pend_message(client: Client, text: str) -> None:
    """Give ``client`` a message waiting to be shown, as a redirect after a write would."""
    storage = CookieStorage(RequestFactory().get("/"))
    storage.add(constants.SUCCESS, text)
    response = HttpResponse()
    storage.update(response)
    client.cookies[storage.cookie_name] = response.cookies[storage.cookie_name].value


# --- Pages never cross viewers -------------------------------------------------------------


def test_alternating_viewers_each_see_their_own_name_admin_link_and_create_button(
    alice: User, bob: User, shop: Connection
) -> None:
    clients = {"alice": client_for(alice), "bob": client_for(bob)}
    rendered = []

    for _ in range(3):
        for name, client in clients.items():
            response = get_list(client)
            html = response.content.decode()
            rendered.append(was_rendered(response))
            assert shown_user(html) == name
            assert (ADMIN_LINK in html) is (name == "alice")
            assert (CREATE_LINK in html) is (name == "alice")
            assert names_in(html) == ["First shop"]

    assert rendered == [True, True] + [False] * 4  # kept after the first round, one per viewer
    assert len(views._pages) == 2


def test_viewers_with_the_same_permissions_still_get_their_own_page(
    shop: Connection, bob: User
) -> None:
    twin = make_user("bobby", "view")
    first, second = client_for(bob), client_for(twin)

    pages = [listing(first), listing(second), listing(first), listing(second)]

    assert [shown_user(html) for html in pages] == ["bob", "bobby", "bob", "bobby"]
    assert len(views._pages) == 2


def test_signed_out_session_is_not_served_the_kept_page(alice: User, shop: Connection) -> None:
    client = client_for(alice)
    listing(client)
    listing(client)

    client.logout()
    response = client.get("/connections/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


# --- CSRF: a fresh, working token in every response ------------------------------------------


def test_each_response_of_a_kept_page_has_a_new_token_and_each_works(
    alice: User, shop: Connection
) -> None:
    client = client_for(alice, enforce_csrf_checks=True)
    responses = [get_list(client) for _ in range(3)]
    pages = [response.content.decode() for response in responses]
    tokens = [form_token(html) for html in pages]

    assert [was_rendered(response) for response in responses] == [True, False, False]
    assert len(set(tokens)) == 3  # masked anew per response
    for html, token in zip(pages, tokens, strict=True):
        assert header_token(html) == token  # one token per response, in both places
        assert values_test(client, field=token) == 200
        assert values_test(client, header=token) == 200


def test_wrong_or_placeholder_token_is_refused(alice: User, shop: Connection) -> None:
    client = client_for(alice, enforce_csrf_checks=True)
    listing(client)
    listing(client)  # kept

    assert values_test(client) == 403
    assert values_test(client, field=WRONG_TOKEN) == 403
    assert values_test(client, header=WRONG_TOKEN) == 403
    assert values_test(client, field=views._CSRF_PLACEHOLDER) == 403
    assert values_test(client, header=views._CSRF_PLACEHOLDER) == 403


def test_kept_page_token_belongs_to_the_session_that_asked(alice: User, shop: Connection) -> None:
    first = client_for(alice, enforce_csrf_checks=True)
    second = client_for(alice, enforce_csrf_checks=True)
    listing(first)
    response = get_list(second)  # the page kept for alice, first rendered for `first`
    token = form_token(response.content.decode())

    assert not was_rendered(response)
    assert first.cookies["csrftoken"].value != second.cookies["csrftoken"].value
    assert values_test(second, field=token) == 200
    assert values_test(first, field=token) == 403


def test_kept_page_gives_a_working_token_to_a_client_without_a_csrf_cookie(
    alice: User, shop: Connection
) -> None:
    client = client_for(alice, enforce_csrf_checks=True)
    listing(client)
    del client.cookies["csrftoken"]

    response = get_list(client)
    token = form_token(response.content.decode())

    assert not was_rendered(response)
    assert "csrftoken" in response.cookies  # the secret the new token is masked with
    assert values_test(client, header=token) == 200


def test_kept_page_does_not_send_again_the_csrf_cookie_the_browser_has(
    alice: User, shop: Connection
) -> None:
    client = client_for(alice, enforce_csrf_checks=True)
    listing(client)
    cookie = client.cookies["csrftoken"].value

    response = get_list(client)
    token = form_token(response.content.decode())

    assert not was_rendered(response)
    assert "csrftoken" not in response.cookies  # a Set-Cookie per poll would change nothing
    assert client.cookies["csrftoken"].value == cookie
    assert values_test(client, field=token) == 200


def test_kept_page_replaces_an_unusable_csrf_cookie(alice: User, shop: Connection) -> None:
    client = client_for(alice, enforce_csrf_checks=True)
    listing(client)
    client.cookies["csrftoken"] = "not-a-csrf-secret!"

    response = get_list(client)
    token = form_token(response.content.decode())

    assert not was_rendered(response)
    assert response.cookies["csrftoken"].value not in ("", "not-a-csrf-secret!")
    assert values_test(client, field=token) == 200


def test_logout_form_on_a_kept_page_signs_out(alice: User, shop: Connection) -> None:
    client = client_for(alice, enforce_csrf_checks=True)
    listing(client)
    html = listing(client)

    refused = client.post("/accounts/logout/", {"csrfmiddlewaretoken": WRONG_TOKEN})
    still_in = client.get("/connections/").status_code
    signed_out = client.post("/accounts/logout/", {"csrfmiddlewaretoken": form_token(html)})

    assert refused.status_code == 403
    assert still_in == 200
    assert signed_out.status_code == 302
    assert client.get("/connections/").status_code == 302  # to the sign-in page


def test_hx_headers_token_on_a_kept_page_works_for_an_htmx_logout(
    alice: User, shop: Connection
) -> None:
    client = client_for(alice, enforce_csrf_checks=True)
    listing(client)
    html = listing(client)

    response = client.post("/accounts/logout/", headers={"X-CSRFToken": header_token(html)})

    assert response.status_code == 302
    assert client.get("/connections/").status_code == 302


# --- Messages show once and are never kept ---------------------------------------------------


def test_delete_message_shows_on_the_next_list_once_then_the_page_is_kept_again(
    alice: User, shop: Connection
) -> None:
    create(alice, "Second shop")
    client = client_for(alice)
    listing(client)
    message = "Connection “First shop” deleted. Its history is kept."

    deleted = client.post(f"/connections/{shop.pk}/delete/")
    with_message = get_list(client)
    after = get_list(client)
    kept = get_list(client)

    assert deleted.status_code == 302
    assert deleted["Location"] == "/connections/"
    assert with_message.content.decode().count(message) == 1
    assert names_in(with_message.content.decode()) == ["Second shop"]
    assert message not in after.content.decode()
    assert message not in kept.content.decode()
    assert was_rendered(after)
    assert not was_rendered(kept)
    assert kept.content.decode().replace(form_token(kept.content.decode()), "") == (
        after.content.decode().replace(form_token(after.content.decode()), "")
    )


def test_message_pending_while_a_page_is_kept_is_shown_once_and_not_kept(
    alice: User, shop: Connection
) -> None:
    client = client_for(alice)
    listing(client)
    assert len(views._pages) == 1

    pend_message(client, "Hello exactly once")
    with_message = get_list(client)
    after = get_list(client)

    assert was_rendered(with_message)  # not the kept page, which has no message
    assert with_message.content.decode().count("Hello exactly once") == 1
    assert 'class="messages"' in with_message.content.decode()
    assert not was_rendered(after)  # the page kept before the message, served again
    assert "Hello exactly once" not in after.content.decode()
    assert 'class="messages"' not in after.content.decode()
    assert len(views._pages) == 1


def test_message_page_is_not_kept_for_the_next_request(alice: User, shop: Connection) -> None:
    client = client_for(alice)
    pend_message(client, "Only this once")

    first = listing(client)
    second = get_list(client)

    assert "Only this once" in first
    assert was_rendered(second)  # nothing was kept by the message page
    assert "Only this once" not in second.content.decode()
    assert len(views._pages) == 1


# --- Changes to the viewer show at once ------------------------------------------------------


def test_granting_and_removing_add_permission_shows_and_hides_the_create_button(
    alice: User, bob: User, shop: Connection
) -> None:
    client = client_for(bob)
    add = Permission.objects.get(content_type__app_label="connections", codename="add_connection")
    before = listing(client)
    listing(client)  # kept

    bob.user_permissions.add(add)
    granted = get_list(client)
    bob.user_permissions.remove(add)
    removed = listing(client)

    assert CREATE_LINK not in before
    assert was_rendered(granted)
    assert CREATE_LINK in granted.content.decode()
    assert CREATE_LINK not in removed


def test_joining_a_group_that_may_add_shows_the_create_button(bob: User, shop: Connection) -> None:
    client = client_for(bob)
    creators = Group.objects.create(name="Creators")
    creators.permissions.add(
        Permission.objects.get(content_type__app_label="connections", codename="add_connection")
    )
    assert CREATE_LINK not in listing(client)
    listing(client)

    bob.groups.add(creators)

    assert CREATE_LINK in listing(client)


def test_becoming_staff_shows_the_admin_link(bob: User, shop: Connection) -> None:
    client = client_for(bob)
    assert ADMIN_LINK not in listing(client)
    listing(client)

    bob.is_staff = True
    bob.save()

    assert ADMIN_LINK in listing(client)


def test_renamed_user_sees_the_new_name(bob: User, shop: Connection) -> None:
    client = client_for(bob)
    assert shown_user(listing(client)) == "bob"
    listing(client)

    bob.username = "robert"
    bob.save()

    assert shown_user(listing(client)) == "robert"


# --- The list's content and queries ----------------------------------------------------------


def test_create_and_rename_through_the_services_show_on_the_next_page(
    alice: User, shop: Connection
) -> None:
    client = client_for(alice)
    listing(client)
    listing(client)

    create(alice, "Second shop")
    created = listing(client)
    services.connection_update(
        connection=shop,
        actor=alice,
        data=ConnectionData(
            name="Renamed shop", api_type="merchant", account_id=USER_ID, secret=Secret(API_KEY)
        ),
    )
    renamed = listing(client)

    assert names_in(created) == ["First shop", "Second shop"]
    assert names_in(renamed) == ["Renamed shop", "Second shop"]


def test_each_search_sort_and_page_gets_its_own_kept_page(alice: User) -> None:
    Connection.objects.bulk_create(
        Connection(name=f"{word} {index:02d}", api_type="merchant")
        for word in ("alpha", "beta")
        for index in range(30)
    )
    services.list_version_bump()  # the rows above went around the services
    client = client_for(alice)
    queries = ["", "?q=beta", "?sort=-name", "?page=2", "?sort=-name&page=2"]

    first = {}
    for count, query in enumerate(queries, start=1):
        first[query] = names_in(listing(client, query))
        assert len(views._pages) == count
    again = {query: names_in(listing(client, query)) for query in queries}

    assert len(views._pages) == len(queries)  # repeats add nothing
    assert again == first
    assert first[""][0] == "alpha 00"
    assert first["?q=beta"] == [f"beta {index:02d}" for index in range(30)]
    assert first["?sort=-name"][0] == "beta 29"
    assert first["?page=2"] == [f"beta {index:02d}" for index in range(20, 30)]
    assert first["?sort=-name&page=2"] == [f"alpha {index:02d}" for index in range(9, -1, -1)]


def test_repeated_page_is_served_from_one_query_without_rendering(
    alice: User, shop: Connection, django_assert_num_queries
) -> None:
    client = client_for(alice)
    first = get_list(client)

    # One round trip, for the list's and the sign-in tokens; nothing rendered.
    with django_assert_num_queries(1):
        second = get_list(client)

    assert was_rendered(first)
    assert not was_rendered(second)
    assert names_in(second.content.decode()) == ["First shop"]
    assert len(views._pages) == 1


def test_each_time_zone_gets_its_own_kept_page(alice: User, shop: Connection) -> None:
    Connection.objects.filter(pk=shop.pk).update(
        updated_at=datetime(2026, 11, 25, 20, 36, tzinfo=UTC)
    )
    services.list_version_bump()
    client = client_for(alice)

    utc = [listing(client), listing(client)]
    with timezone.override("Asia/Kathmandu"):
        kathmandu = [listing(client), listing(client)]

    assert all(">25 Nov 2026, 20:36</time>" in html for html in utc)
    assert all(">26 Nov 2026, 02:21</time>" in html for html in kathmandu)
    assert len(views._pages) == 2


def test_each_language_gets_its_own_kept_page(alice: User, shop: Connection) -> None:
    # No page switches the language yet; the key must keep them apart once one does.
    Connection.objects.filter(pk=shop.pk).update(updated_at=datetime(2026, 10, 5, 9, 0, tzinfo=UTC))
    services.list_version_bump()
    client = client_for(alice)

    english = [listing(client), listing(client)]
    with translation.override("de"):
        german = [listing(client), listing(client)]

    assert all(">5 Oct 2026, 09:00</time>" in html for html in english)
    assert all(">5 Okt 2026, 09:00</time>" in html for html in german)
    assert len(views._pages) == 2
