"""Sign-in, sign-out and the pages that require them."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/connections/", "/admin/"])
def test_anonymous_requests_are_sent_to_login(client: Client, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 302
    assert "/login/" in response["Location"]
    assert f"next={path}" in response["Location"]


def test_root_redirects_to_connections(admin_client: Client) -> None:
    response = admin_client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/connections/"


def test_login_page_is_public_and_labelled(client: Client) -> None:
    response = client.get("/accounts/login/")
    html = response.content.decode()

    assert response.status_code == 200
    assert '<label class="field__label" for="id_username">' in html
    assert 'href="#main"' in html
    assert "/static/vendor/htmx-2.0.11.min.js" in html
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_superuser_signs_in_and_reaches_connections_and_admin(client: Client) -> None:
    User.objects.create_superuser("alice", "alice@example.com", "correct-horse-battery")

    response = client.post(
        "/accounts/login/", {"username": "alice", "password": "correct-horse-battery"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/connections/"
    assert client.get("/connections/").status_code == 200
    assert client.get("/admin/").status_code == 200


def test_wrong_password_shows_a_message_and_no_session(client: Client) -> None:
    User.objects.create_user("bob", password="correct-horse-battery")

    response = client.post("/accounts/login/", {"username": "bob", "password": "nope"})

    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_logout_needs_post(admin_client: Client) -> None:
    assert admin_client.get("/accounts/logout/").status_code == 405
    assert admin_client.get("/connections/").status_code == 200

    response = admin_client.post("/accounts/logout/")

    assert response.status_code == 302
    assert admin_client.get("/connections/").status_code == 302


def test_htmx_sends_csrf_token_from_body(admin_client: Client) -> None:
    html = admin_client.get("/connections/").content.decode()
    assert 'hx-headers=\'{"X-CSRFToken": "' in html
