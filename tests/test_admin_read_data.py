"""The admin and read_data: the permission is assignable there, and no admin page reads data."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.urls import reverse

from tests.factories import client_for, make_user, okendo_connection

pytestmark = pytest.mark.django_db

LABEL = "Can read Okendo data through a connection"


def test_read_data_can_be_granted_to_a_user_and_a_group_in_the_admin():
    boss = User.objects.create_superuser("boss")
    clerk = make_user("clerk", "view", is_staff=True)
    group = Group.objects.create(name="Readers")
    permission = Permission.objects.get(codename="read_data")
    admin = client_for(boss)

    for url in (
        reverse("admin:auth_user_change", args=[clerk.pk]),
        reverse("admin:auth_group_change", args=[group.pk]),
    ):
        page = admin.get(url).content.decode()
        assert f'<option value="{permission.pk}"' in page
        assert LABEL in page
    response = admin.post(
        reverse("admin:auth_group_change", args=[group.pk]),
        {"name": "Readers", "permissions": [permission.pk]},
    )

    assert response.status_code == 302
    clerk.groups.add(group)
    assert User.objects.get(pk=clerk.pk).has_perm("connections.read_data")


def test_no_admin_page_of_a_connection_reads_okendo_data(okendo):
    # Staff allowed everything on connections except read_data: the admin's pages
    # (list, change, history, delete) must send nothing to Okendo and show no data.
    okendo.serve_reviews(okendo.user_id, 3)
    staff = make_user("staff", "view", "add", "change", "delete", is_staff=True)
    connection = okendo_connection(okendo)
    client = client_for(staff)

    pages = [
        reverse("admin:connections_connection_changelist"),
        reverse("admin:connections_connection_change", args=[connection.pk]),
        reverse("admin:connections_connection_history", args=[connection.pk]),
        reverse("admin:connections_connection_delete", args=[connection.pk]),
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert "Reviewer 000000" not in response.content.decode()
    assert okendo.requests == []
