"""Production serving: gunicorn with whitenoise and DEBUG off."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.gunicorn import gunicorn, site_environment


@pytest.fixture(scope="module")
def gunicorn_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("serve")
    with gunicorn(site_environment(tmp), tmp) as base:
        yield base


def test_gunicorn_serves_login_page_with_hashed_static_links(gunicorn_server: str) -> None:
    response = requests.get(f"{gunicorn_server}/accounts/login/", timeout=5)

    assert response.status_code == 200
    assert "Sign in" in response.text
    # The manifest storage rewrote the links to content-hashed names.
    assert "/static/css/app." in response.text
    assert "/static/css/app.css" not in response.text


def test_whitenoise_serves_collected_static_files(gunicorn_server: str) -> None:
    login = requests.get(f"{gunicorn_server}/accounts/login/", timeout=5).text
    css_path = next(
        part.split('"')[0] for part in login.split('href="') if part.startswith("/static/css/")
    )

    response = requests.get(f"{gunicorn_server}{css_path}", timeout=5)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/css")
    assert "max-age=315360000" in response.headers["Cache-Control"]
    assert "--primary" in response.text


def test_gunicorn_redirects_anonymous_users_to_login(gunicorn_server: str) -> None:
    response = requests.get(f"{gunicorn_server}/connections/", timeout=5, allow_redirects=False)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/accounts/login/")


def test_unknown_url_gets_plain_404_without_debug_page(gunicorn_server: str) -> None:
    response = requests.get(f"{gunicorn_server}/accounts/nope/", timeout=5)
    assert response.status_code in {302, 404}
    assert "Traceback" not in response.text
    assert "DJANGO_SECRET_KEY" not in response.text
