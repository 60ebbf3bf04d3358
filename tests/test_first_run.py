"""What a new user meets first: the development server's last words and the favicon."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.contrib.staticfiles import finders
from django.test import Client

from connections.management.commands.devserver import Command


def _banner(*, addr: str = "127.0.0.1", ipv6: bool = False) -> str:
    out = StringIO()
    command = Command(stdout=out, no_color=True)
    command.addr, command._raw_ipv6, command.protocol = addr, ipv6, "http"
    command.on_bind(8000)
    return out.getvalue()


@pytest.mark.django_db
def test_devserver_ends_with_the_address_and_how_to_create_the_first_user() -> None:
    lines = _banner().strip().splitlines()

    assert lines[-2:] == [
        "Okendo connections: http://127.0.0.1:8000/",
        "No user yet. Create the first one in another terminal: make user",
    ]


@pytest.mark.django_db
def test_devserver_says_nothing_about_users_once_one_exists() -> None:
    User.objects.create_user("first")

    banner = _banner(addr="::1", ipv6=True)

    assert banner.strip().splitlines()[-1] == "Okendo connections: http://[::1]:8000/"
    assert "make user" not in banner


def test_makefile_run_uses_devserver_and_user_creates_a_superuser() -> None:
    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()

    assert "manage.py devserver $(HOST):$(PORT)" in makefile
    user_target = makefile.split("\nuser:", 1)[1].split("\n\n", 1)[0]
    assert "manage.py createsuperuser" in user_target
    assert "DJANGO_DEBUG=$${DJANGO_DEBUG:-1}" in user_target


def test_favicon_ico_redirects_to_the_icon_without_signing_in(client: Client) -> None:
    response = client.get("/favicon.ico")

    assert response.status_code == 302
    assert response["Location"] == "/static/favicon.svg"
    assert "max-age=86400" in response["Cache-Control"]
    icon = finders.find("favicon.svg")
    assert icon is not None
    assert Path(icon).read_text().startswith("<svg")


@pytest.mark.django_db
def test_pages_link_the_icon(client: Client) -> None:
    assert '<link rel="icon" href="/static/favicon.svg"' in client.get("/accounts/login/").text
