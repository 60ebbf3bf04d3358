"""The "API tokens" page and the create_api_token command: shown once, listed, revoked."""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from knox.models import AuthToken

from connections.models import ApiTokenInfo
from tests.factories import client_for, make_user

pytestmark = pytest.mark.django_db

PAGE = "/accounts/api-tokens/"
TOKEN = re.compile(r"okc_[0-9a-f]{64}")


def works(token: str) -> bool:
    response = Client().get("/api/v1/connections/", headers={"Authorization": f"Bearer {token}"})
    return response.status_code == 200


@pytest.fixture
def alice():
    return make_user("alice", "view")


def test_the_user_menu_links_to_the_token_page(alice) -> None:
    html = client_for(alice).get("/connections/").content.decode()

    assert f'href="{PAGE}"' in html
    assert ">API tokens</a>" in html


def test_the_page_needs_a_signed_in_user() -> None:
    response = Client().get(PAGE)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_a_new_token_is_shown_once_and_works(alice) -> None:
    client = client_for(alice)

    created = client.post(PAGE, {"name": "Nightly sync", "days": "30"})
    shown = TOKEN.findall(created.content.decode())
    later = client.get(PAGE).content.decode()

    assert created.status_code == 200
    assert len(set(shown)) == 1
    assert "no-store" in created["Cache-Control"]
    assert TOKEN.search(later) is None  # never again
    token = AuthToken.objects.get()
    assert token.token_key in later
    assert "Nightly sync" in later
    assert token.expiry is not None
    assert timedelta(days=29) < token.expiry - timezone.now() <= timedelta(days=30)
    assert works(shown[0])


def test_the_list_shows_prefix_created_expiry_and_last_use(alice) -> None:
    client = client_for(alice)
    client.post(PAGE, {"name": "CI", "days": "7"})
    token_text = TOKEN.search(client.post(PAGE, {"days": "90"}).content.decode()).group()  # type: ignore[union-attr]
    works(token_text)
    old = ApiTokenInfo.objects.get(name="CI")
    AuthToken.objects.filter(pk=old.pk).update(expiry=timezone.now() - timedelta(days=1))

    html = client.get(PAGE).content.decode()

    rows = html.split("<tr>")[2:]
    assert len(rows) == 2
    assert token_text[:15] in rows[0]
    assert "Never" not in rows[0]  # last used just now
    assert "Expired" in rows[1]
    assert "Never" in rows[1]


def test_a_token_is_revoked_only_by_its_owner(alice) -> None:
    owner = client_for(alice)
    text = TOKEN.search(owner.post(PAGE, {"days": "7"}).content.decode()).group()  # type: ignore[union-attr]
    key = AuthToken.objects.get().token_key
    mallory = client_for(make_user("mallory", "view"))

    refused = mallory.post(f"{PAGE}{key}/revoke/", follow=True)
    assert "No such token" in refused.content.decode()
    assert works(text)

    revoked = owner.post(f"{PAGE}{key}/revoke/", follow=True)
    assert f"Token {key}… revoked" in revoked.content.decode()
    assert not AuthToken.objects.exists()
    assert not works(text)


def test_only_offered_lifetimes_are_accepted(alice) -> None:
    response = client_for(alice).post(PAGE, {"days": "100000"})

    assert "Select a valid choice" in response.content.decode()
    assert not AuthToken.objects.exists()


def test_another_users_tokens_are_not_listed(alice) -> None:
    other = make_user("bob", "view")
    client_for(other).post(PAGE, {"name": "Bob's script", "days": "7"})

    html = client_for(alice).get(PAGE).content.decode()

    assert "Bob&#x27;s script" not in html
    assert "No tokens yet." in html


def test_the_command_prints_a_working_token_once(alice) -> None:
    out, err = StringIO(), StringIO()

    call_command("create_api_token", "alice", "--days", "7", "--name", "CI", stdout=out, stderr=err)

    token = out.getvalue().strip()
    assert TOKEN.fullmatch(token)
    assert token not in err.getvalue()
    assert token[:15] in err.getvalue()
    assert ApiTokenInfo.objects.get().name == "CI"
    assert works(token)


@pytest.mark.parametrize(
    ("args", "message"), [(["nobody"], "No active user"), (["alice", "--days", "0"], "--days")]
)
def test_the_command_refuses_unknown_users_and_bad_lifetimes(alice, args, message) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("create_api_token", *args, stdout=StringIO(), stderr=StringIO())
    assert not AuthToken.objects.exists()
