"""The site served as production serves it, for tests: a prepared database, gunicorn, 2 workers."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import requests

from tests.environment import TEST_ENVIRONMENT

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def site_environment(tmp: Path, **extra: str) -> dict[str, str]:
    """The tests' configuration with DEBUG off, on a SQLite file of its own in ``tmp``."""
    return {
        **os.environ,
        **TEST_ENVIRONMENT,
        "DJANGO_DEBUG": "0",
        "DJANGO_STATIC_ROOT": str(tmp / "static"),
        "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
        **extra,
    }


def manage(env: Mapping[str, str], *command: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True, timeout=120
    )


@contextlib.contextmanager
def gunicorn(env: Mapping[str, str], tmp: Path, *options: str) -> Iterator[str]:
    """Migrate and collect static files, serve with 2 workers, yield the base URL, then stop."""
    manage(env, "migrate", "--noinput")
    manage(env, "collectstatic", "--noinput", "--verbosity", "0")
    port = free_port()
    log_path = tmp / "gunicorn.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "okendo_site.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                *options,
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
                    requests.get(f"{base}/healthz", timeout=2)
                    break
                # A busy machine may accept before a worker answers: a read timeout too.
                except (requests.ConnectionError, requests.Timeout):
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise RuntimeError(log_path.read_text()) from None
                    time.sleep(0.2)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=10)
