"""``make serve``'s defaults give its processes one rate limiter: real processes, real cache.

Each probe is a separate Python process configured as ``make serve`` configures
gunicorn's workers (its environment is read from the Makefile through make
itself) and reserves a send slot for the same Okendo account at the same
instant. The second must see the first's reservation and wait for the next slot.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection

from tests.gunicorn import ROOT, manage, site_environment

SLOT_SECONDS = 0.5  # Okendo's 2 requests per second

# Waits for a line holding the clock reading, reserves one slot, prints the wait.
PROBE = """
import sys
import django

django.setup()
from connections.ratelimit import AccountRateLimiter

print("ready", flush=True)
now = float(sys.stdin.readline())
print(AccountRateLimiter(now=lambda: now).reserve(sys.argv[1], max_wait=5.0), flush=True)
"""


def serve_environment(env: Mapping[str, str]) -> dict[str, str]:
    """Return ``env`` with what ``make serve`` sets for its commands (``SERVE_ENV``)."""
    dumped = subprocess.run(
        [
            "make",
            "--silent",
            "--no-print-directory",
            "--eval",
            "print-serve-env: ; @$(SERVE_ENV) env -0",
            "print-serve-env",
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=30,
    ).stdout.decode()
    return dict(item.split("=", 1) for item in dumped.split("\0") if "=" in item)


@pytest.fixture
def base_env(tmp_path: Path, db: None) -> dict[str, str]:
    """The tests' settings on a database the probes can open: a SQLite file or the test database."""
    env = site_environment(tmp_path, DJANGO_SETTINGS_MODULE="okendo_site.settings")
    if connection.vendor == "postgresql":
        # The suite's own PostgreSQL test database, which has the cache table.
        url = urlsplit(os.environ["DATABASE_URL"])
        name = connection.settings_dict["NAME"]
        env["DATABASE_URL"] = urlunsplit(url._replace(path=f"/{name}"))
    env.pop("CACHE_URL", None)
    # Set by the browser tests for this process only; check --deploy rightly refuses it.
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return env


def reserve_in_two_processes(env: Mapping[str, str]) -> tuple[float, float]:
    """Start two probes, let both set up, then have each reserve a slot for one account."""
    account = f"probe-{uuid.uuid4().hex}"
    probes = [
        subprocess.Popen(
            [sys.executable, "-c", PROBE, account],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for probe in probes:
            assert probe.stdout is not None
            line = probe.stdout.readline()
            assert line == "ready\n", probe.communicate(timeout=30)[1]
        # One clock reading for both: each process sees the same current slot.
        now = repr(time.time())
        waits = []
        for probe in probes:
            out, err = probe.communicate(f"{now}\n", timeout=60)
            assert probe.returncode == 0, err
            waits.append(float(out))
        return waits[0], waits[1]
    finally:
        for probe in probes:
            if probe.poll() is None:
                probe.kill()
                probe.wait()


def test_make_serve_defaults_to_the_database_cache(base_env):
    env = serve_environment(base_env)

    assert env["DJANGO_DEBUG"] == "0"
    assert env["CACHE_URL"] == "db://"


def test_make_serve_keeps_a_cache_url_it_is_given(base_env):
    env = serve_environment({**base_env, "CACHE_URL": "redis://cache.internal:6379/0"})

    assert env["CACHE_URL"] == "redis://cache.internal:6379/0"


def test_second_process_waits_for_the_slot_the_first_reserved(base_env):
    env = serve_environment(base_env)
    manage(env, "createcachetable")  # as make serve does

    first, second = reserve_in_two_processes(env)

    assert first == 0.0
    assert 0.0 < second <= SLOT_SECONDS


def test_per_process_cache_lets_both_processes_send_at_once(base_env):
    # What the check connections.W001 warns about, shown with the same probes.
    env = {**base_env, "CACHE_URL": "locmem://"}

    assert reserve_in_two_processes(env) == (0.0, 0.0)


def test_check_deploy_is_quiet_about_the_cache_under_make_serve(base_env):
    env = serve_environment(base_env)
    served = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    bare = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=base_env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert served.returncode == 0, served.stderr
    assert "connections.W001" not in served.stdout + served.stderr
    assert "connections.W001" in bare.stdout + bare.stderr
