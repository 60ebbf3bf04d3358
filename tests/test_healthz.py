"""The liveness probe load balancers poll: public, cheap, never cached."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

# No django_db mark: pytest-django fails any test here that touches the database.


def test_healthz_answers_ok_as_plain_text_without_signing_in() -> None:
    response = Client().get("/healthz")

    assert response.status_code == 200
    assert response.content == b"ok"
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Cache-Control"] == "no-store"


def test_healthz_sets_no_cookies() -> None:
    response = Client().get("/healthz")

    assert not response.cookies


def test_healthz_answers_head_for_probes_that_send_it() -> None:
    response = Client().head("/healthz")

    assert response.status_code == 200
    assert response.content == b""


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_healthz_refuses_writes(method: str) -> None:
    assert getattr(Client(), method)("/healthz").status_code == 405


def test_healthz_is_not_redirected_to_https_when_everything_else_is() -> None:
    with override_settings(SECURE_SSL_REDIRECT=True):
        client = Client()
        login = client.get("/accounts/login/")
        probe = client.get("/healthz")

    assert login.status_code == 301
    assert login["Location"].startswith("https://")
    assert probe.status_code == 200
    assert probe.content == b"ok"
