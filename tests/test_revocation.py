"""Revocation: what ends a sign-in or a permission takes effect on the very next request.

Stock Django reads the session, the user and the permissions from the database
on every request, so nothing a worker remembers can outlive a change, however
the change is made: through the ORM, ``QuerySet.update()``, a bulk delete of
permission links or ``clearsessions``.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, Permission, User
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from tests.factories import client_for, make_user, merchant_post

pytestmark = pytest.mark.django_db

LIST = "/connections/"
NEW = "/connections/new/"


@pytest.fixture
def alice() -> User:
    return make_user("alice", "view", "add")


@pytest.fixture
def client(alice: User) -> Client:
    client = client_for(alice)
    assert client.get(LIST).status_code == 200  # signed in, and seen once
    return client


def is_signed_out(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_sign_out_ends_the_session_for_every_copy_of_the_cookie(client: Client) -> None:
    copy = Client()  # the same session cookie, kept elsewhere (another host, a stolen copy)
    copy.cookies[settings.SESSION_COOKIE_NAME] = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert copy.get(LIST).status_code == 200

    client.post("/accounts/logout/")

    assert is_signed_out(copy.get(LIST))


def test_deactivation_through_the_orm_signs_out(client: Client, alice: User) -> None:
    alice.is_active = False
    alice.save()

    assert is_signed_out(client.get(LIST))


def test_deactivation_with_queryset_update_signs_out(client: Client, alice: User) -> None:
    User.objects.filter(pk=alice.pk).update(is_active=False)

    assert is_signed_out(client.get(LIST))
    assert is_signed_out(client.post(NEW, merchant_post(name="Made while deactivated")))


def test_removed_permission_refuses_the_next_request(client: Client, alice: User) -> None:
    alice.user_permissions.remove(Permission.objects.get(codename="view_connection"))

    assert client.get(LIST).status_code == 403


def test_bulk_deleted_permission_links_refuse_the_next_create(client: Client, alice: User) -> None:
    assert client.get(NEW).status_code == 200
    User.user_permissions.through.objects.filter(
        user=alice, permission__codename="add_connection"
    ).delete()

    assert client.get(NEW).status_code == 403
    assert client.post(NEW, merchant_post(name="Made without permission")).status_code == 403


def test_leaving_a_group_takes_its_permissions_at_once() -> None:
    bob = make_user("bob")
    viewers = Group.objects.create(name="Viewers")
    viewers.permissions.add(Permission.objects.get(codename="view_connection"))
    bob.groups.add(viewers)
    client = client_for(bob)
    assert client.get(LIST).status_code == 200

    viewers.permissions.clear()

    assert client.get(LIST).status_code == 403


def test_password_change_signs_out_other_sessions(client: Client, alice: User) -> None:
    alice.set_password("a-new-password-NOT-REAL-0001")
    alice.save()

    assert is_signed_out(client.get(LIST))


def test_password_change_with_queryset_update_signs_out(client: Client, alice: User) -> None:
    User.objects.filter(pk=alice.pk).update(password="pbkdf2_sha256$1$salt$NOTREAL")

    assert is_signed_out(client.get(LIST))


def test_session_expired_in_sql_and_cleared_signs_out(client: Client) -> None:
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    call_command("clearsessions")

    assert Session.objects.count() == 0
    assert is_signed_out(client.get(LIST))


def test_deleted_user_is_signed_out(client: Client, alice: User) -> None:
    User.objects.filter(pk=alice.pk).delete()

    assert is_signed_out(client.get(LIST))
