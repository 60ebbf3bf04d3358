"""Sign-in protection: attempt limits, CSRF on sign-in and sign-out, cookie flags."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from axes.models import AccessAttempt, AccessLog
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone

from tests.environment import TEST_ENVIRONMENT

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
LOGIN = "/accounts/login/"
LOGOUT = "/accounts/logout/"
PASSWORD = "correct-horse-battery-NOT-REAL"
WRONG = "wrong-guess-NOT-REAL-7f3a91"
LOCKED_MESSAGE = "Too many failed sign-in attempts. Try again in 15 minutes."


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    # Every attempt here checks a password; the production hasher's deliberate
    # slowness would cost a quarter of a second each and prove nothing more.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def bob() -> User:
    return User.objects.create_user("bob", password=PASSWORD)


def sign_in(client: Client, password: str, *, username: str = "bob", address: str = "127.0.0.1"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def fail(client: Client, times: int, **kwargs) -> None:
    for _ in range(times):
        response = sign_in(client, WRONG, **kwargs)
        assert response.status_code == 200
        assert "Please enter a correct username and password" in response.content.decode()


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, "the page has no CSRF token field"
    return match.group(1)


def test_fifth_failed_sign_in_locks_out_with_a_calm_message(client: Client, bob: User) -> None:
    fail(client, 4)

    response = sign_in(client, WRONG)

    html = response.content.decode()
    assert response.status_code == 429
    assert LOCKED_MESSAGE in html
    assert "<title>Sign-in paused · Okendo connections</title>" in html
    assert 'class="skip-link"' in html  # the site's layout, not a bare text answer
    assert response["Retry-After"] == "900"
    assert "no-store" in response["Cache-Control"]
    assert WRONG not in html


def test_locked_out_user_cannot_sign_in_even_with_the_right_password(
    client: Client, bob: User
) -> None:
    fail(client, 4)
    sign_in(client, WRONG)

    response = sign_in(client, PASSWORD)

    assert response.status_code == 429
    assert LOCKED_MESSAGE in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_lockout_is_per_username_and_address(client: Client, bob: User) -> None:
    User.objects.create_user("alice", password=PASSWORD)
    fail(client, 4, address="203.0.113.7")
    assert sign_in(client, WRONG, address="203.0.113.7").status_code == 429
    assert sign_in(client, PASSWORD, address="203.0.113.7").status_code == 429

    # The same person from another address, and a colleague behind the same address.
    assert sign_in(Client(), PASSWORD, address="198.51.100.20").status_code == 302
    assert sign_in(Client(), PASSWORD, username="alice", address="203.0.113.7").status_code == 302


def test_lockout_ends_after_the_cool_off(client: Client, bob: User) -> None:
    fail(client, 4)
    assert sign_in(client, WRONG).status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=15, seconds=1))

    response = sign_in(client, PASSWORD)

    assert response.status_code == 302
    assert response["Location"] == "/connections/"


def test_successful_sign_in_resets_the_failure_count(client: Client, bob: User) -> None:
    fail(client, 4)
    assert sign_in(client, PASSWORD).status_code == 302
    client.post(LOGOUT)

    fail(client, 4)  # four more would have been nine in a row without the reset

    assert sign_in(client, WRONG).status_code == 429


def test_operator_unlocks_a_user_with_axes_reset_username(client: Client, bob: User) -> None:
    fail(client, 4)
    assert sign_in(client, WRONG).status_code == 429

    call_command("axes_reset_username", "bob", stdout=open(os.devnull, "w"))  # noqa: SIM115

    assert sign_in(client, PASSWORD).status_code == 302


def test_failed_sign_ins_never_store_or_log_the_password(
    client: Client, bob: User, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    for _ in range(6):
        response = sign_in(client, WRONG)
        assert WRONG not in response.content.decode()
    sign_in(Client(), PASSWORD, address="198.51.100.20")

    assert "AXES" in caplog.text  # axes did log the attempts
    assert WRONG not in caplog.text
    assert PASSWORD not in caplog.text
    stored = [
        *AccessAttempt.objects.values_list(),
        *AccessLog.objects.values_list(),
    ]
    assert stored
    assert not any(WRONG in str(value) or PASSWORD in str(value) for row in stored for value in row)


def test_sign_in_without_csrf_token_is_refused(bob: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.get(LOGIN)

    response = sign_in(client, PASSWORD)

    assert response.status_code == 403
    assert "_auth_user_id" not in client.session


def test_sign_in_with_csrf_token_from_the_page_succeeds(bob: User) -> None:
    client = Client(enforce_csrf_checks=True)
    token = csrf_token_from(client.get(LOGIN).content.decode())

    response = client.post(
        LOGIN, {"username": "bob", "password": PASSWORD, "csrfmiddlewaretoken": token}
    )

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(bob.pk)


def test_sign_out_without_csrf_token_is_refused_and_keeps_the_session(bob: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(bob)

    response = client.post(LOGOUT)

    assert response.status_code == 403
    assert client.session["_auth_user_id"] == str(bob.pk)


def test_sign_out_by_post_with_the_pages_csrf_token_ends_the_session() -> None:
    admin = User.objects.create_superuser("ada", "ada@example.com", PASSWORD)
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    page = client.get("/connections/").content.decode()
    assert re.search(r'<form method="post" action="/accounts/logout/"', page)

    response = client.post(LOGOUT, {"csrfmiddlewaretoken": csrf_token_from(page)})

    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("method", ["get", "head", "put", "delete"])
def test_sign_out_by_anything_but_post_is_refused(bob: User, method: str) -> None:
    client = Client()
    client.force_login(bob)

    response = getattr(client, method)(LOGOUT)

    assert response.status_code == 405
    assert client.session["_auth_user_id"] == str(bob.pk)


COOKIE_SETTINGS = (
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE",
    "CSRF_COOKIE_SECURE",
    "CSRF_COOKIE_HTTPONLY",
    "CSRF_COOKIE_SAMESITE",
)


def production_cookie_settings(extra: dict[str, str]) -> dict[str, object]:
    """Import the settings in a fresh interpreter configured for production."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "CONNECTIONS_", "DATABASE_URL", "OKENDO_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="okendo_site.settings",
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=TEST_ENVIRONMENT["DJANGO_SECRET_KEY"],
        CONNECTIONS_ENCRYPTION_KEY=TEST_ENVIRONMENT["CONNECTIONS_ENCRYPTION_KEY"],
        **extra,
    )
    code = (
        "import json; from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n) for n in {COOKIE_SETTINGS!r}}}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def cookie_flags(header: str) -> dict[str, str]:
    """Return a Set-Cookie header's attributes by lower-case name ('' when valueless)."""
    attributes = [part.strip() for part in header.split(";")[1:]]
    return {name.lower(): value for name, _, value in (attr.partition("=") for attr in attributes)}


@pytest.mark.parametrize(
    "extra", [{}, {"DJANGO_SECURE_COOKIES": "1"}], ids=["production-default", "explicitly-on"]
)
def test_sign_in_sets_secure_httponly_samesite_cookies_in_production(
    bob: User, extra: dict[str, str]
) -> None:
    production = production_cookie_settings(extra)
    assert production["SESSION_COOKIE_SECURE"] is True
    assert production["CSRF_COOKIE_SECURE"] is True

    with override_settings(**production):
        client = Client(enforce_csrf_checks=True)
        page = client.get(LOGIN)
        response = client.post(
            LOGIN,
            {
                "username": "bob",
                "password": PASSWORD,
                "csrfmiddlewaretoken": csrf_token_from(page.content.decode()),
            },
        )

    assert response.status_code == 302
    set_cookies = {name: morsel.OutputString() for name, morsel in response.cookies.items()}
    assert set(set_cookies) >= {"sessionid", "csrftoken"}
    for name in ("sessionid", "csrftoken"):
        flags = cookie_flags(set_cookies[name])
        assert "secure" in flags, name
        assert "httponly" in flags, name
        assert flags["samesite"] == "Lax", name
