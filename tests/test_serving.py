"""Production serving: gunicorn with whitenoise and DEBUG off."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.environment import TEST_ENVIRONMENT

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def gunicorn_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("serve")
    env = {
        **os.environ,
        **TEST_ENVIRONMENT,
        "DJANGO_DEBUG": "0",
        "DJANGO_STATIC_ROOT": str(tmp / "static"),
        "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
    }
    manage = [sys.executable, "manage.py"]
    for command in (["migrate", "--noinput"], ["collectstatic", "--noinput", "--verbosity", "0"]):
        subprocess.run([*manage, *command], cwd=ROOT, env=env, check=True, timeout=120)
    port = free_port()
    log = (tmp / "gunicorn.log").open("w")
    process = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "okendo_site.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{base}/accounts/login/", timeout=2)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError((tmp / "gunicorn.log").read_text()) from None
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


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
