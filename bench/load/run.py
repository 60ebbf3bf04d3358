"""Load benchmark: a 60 s reliability run of gunicorn (2 workers) on PostgreSQL.

    .venv/bin/python bench/load/run.py [--seconds 60] [--connections 10000] [--users 10]

Creates a fresh PostgreSQL database (``DATABASE_URL`` names the server, default
the local one from .ci/postgres), migrates it, seeds N connections with real
encrypted secrets and a user holding every connections permission, starts the
fake Okendo the tests use and gunicorn as ``make serve`` runs it (DEBUG off,
whitenoise, collected static files, ``CACHE_URL=db://`` so both workers share
the rate limiter), then drives list, detail, create (POST with CSRF) and
test-connection POSTs for ``--seconds`` with locust headless.

It prints requests/s and p50/p95 per path; there is no req/s target (the
list's cost at size is bench/bench_list.py's business). Afterwards it checks
that no request got a 5xx or no answer, that every connection still decrypts
to the value it was given, and that none was lost or duplicated. Exit status:
0 when the checks pass, 1 otherwise, 2 when the run could not be set up (the
message says what is missing). It stops by itself, stops what it started,
drops its database, and talks to 127.0.0.1 only.

Why locust: the client shares this machine's two cores with gunicorn and
PostgreSQL, so it has to be cheap per request or it takes the server's share;
locust's FastHttpUser (gevent + a C HTTP parser) costs a
fraction of what a requests-based thread pool does, and gives percentiles.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import csv
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from load_common import CREATE, DETAIL, LIST, TEST, created_secret

ROOT = Path(__file__).resolve().parents[2]
# The site's packages and tests/fake_okendo.py, imported once the environment is set.
sys.path.insert(0, str(ROOT))

BIN = Path(sys.executable).parent
LOCUSTFILE = Path(__file__).with_name("locustfile.py")
LOCAL_DATABASE_URL = "postgres://okendo:okendo-local-test-only@127.0.0.1:5432/okendo"
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
DEFAULT_CONNECTIONS = 10_000
MIX = {"list": LIST, "detail": DETAIL, "create": CREATE, "test": TEST}
BENCH_USERNAME = "load-bench"


class SetupError(Exception):
    """The run could not start; the message says what is missing and what to do."""


# --- Database ----------------------------------------------------------------


def loopback_database_url(url: str) -> str:
    """Return ``url`` when it is a PostgreSQL URL on this machine; refuse anything else."""
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql", "pgsql"}:
        raise SetupError(
            "DATABASE_URL must be a postgres:// URL: the benchmark measures PostgreSQL."
        )
    if parts.hostname not in LOOPBACK:
        raise SetupError(
            "DATABASE_URL must point at 127.0.0.1 (or localhost): the benchmark only ever "
            "talks to this machine."
        )
    return url


def with_database(url: str, name: str) -> str:
    """Return ``url`` with its database name replaced by ``name``."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _admin_connection(url: str) -> Any:
    import psycopg

    try:
        return psycopg.connect(url.replace("postgres://", "postgresql://", 1), autocommit=True)
    except psycopg.OperationalError as exc:
        raise SetupError(
            f"Cannot reach PostgreSQL at {urlsplit(url).hostname}:{urlsplit(url).port or 5432} "
            f"({exc.__class__.__name__}). Start it with `sudo .ci/postgres` or set DATABASE_URL."
        ) from None


def create_database(url: str, name: str) -> str:
    """Create the empty database ``name`` on the server of ``url``; return its version."""
    from psycopg import sql

    with _admin_connection(url) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return str(conn.execute("SHOW server_version").fetchone()[0])


def drop_database(url: str, name: str) -> None:
    """Drop ``name``, closing whatever connections are still open to it."""
    from psycopg import sql

    with _admin_connection(url) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


# --- Processes ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(process: subprocess.Popen[bytes], name: str) -> None:
    """Ask ``process`` to stop (SIGTERM), then kill it if it has not within 15 s."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        sys.stderr.write(f"{name} did not stop within 15 s; killing it.\n")
        process.kill()
        process.wait(timeout=5)


def site_environment(database_url: str, static_root: Path) -> dict[str, str]:
    """Return the environment the site runs with: production settings, throwaway keys."""
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "CONNECTIONS_", "DATABASE_URL", "CACHE_URL", "OKENDO_"))
    }
    return {
        **inherited,
        "DJANGO_SETTINGS_MODULE": "okendo_site.settings",
        "DJANGO_DEBUG": "0",
        # Fresh keys for a database that lives only for this run.
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "CONNECTIONS_ENCRYPTION_KEY": "load1:" + base64.b64encode(os.urandom(32)).decode(),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        # Plain HTTP on loopback: Secure cookies would never come back.
        "DJANGO_SECURE_COOKIES": "0",
        "DJANGO_STATIC_ROOT": str(static_root),
        "DJANGO_LOG_LEVEL": "WARNING",
        "DATABASE_URL": database_url,
        "CACHE_URL": "db://",
        # Nothing listens on port 9: only gunicorn is given the fake Okendo's address.
        "OKENDO_API_BASE_URL": "http://127.0.0.1:9",
    }


def start_gunicorn(env: dict[str, str], port: int, log_path: Path) -> subprocess.Popen[bytes]:
    """Start gunicorn with 2 sync workers on ``port`` of the loopback address."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "okendo_site.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches this script, which stops it in order
        )


def wait_until_serving(base: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    """Poll ``/healthz`` until it answers; give up after 60 s or when gunicorn exits."""
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or still booting its workers
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise SetupError(f"gunicorn did not start:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.2)


# --- Seeding and checking ----------------------------------------------------


@dataclass
class Seeded:
    """What was stored before the load, to compare with what is there after it."""

    ids: list[int]
    secrets: dict[uuid.UUID, str]
    password: str
    seconds: float


def seed(count: int) -> Seeded:
    """Store ``count`` connections, half of each type, with real encrypted secrets."""
    from django.contrib.auth.models import Permission, User

    from connections.models import Connection

    password = secrets.token_urlsafe(24)
    user = User.objects.create_user(BENCH_USERNAME, password=password)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="connections"))
    started = time.perf_counter()
    stored: dict[uuid.UUID, str] = {}
    rows = []
    for index in range(count):
        merchant = index % 2 == 0
        secret = "NOTREAL" + secrets.token_hex(13)[:25]
        account = str(uuid.uuid4())
        connection = Connection(
            name=f"Load {index:05d} {'Merchant' if merchant else 'Storefront'}",
            api_type=Connection.ApiType.MERCHANT if merchant else Connection.ApiType.STOREFRONT,
            created_by=user,
        )
        if merchant:
            connection.user_id = account
            connection.set_api_key(secret, by=user)
        else:
            connection.username = account
            connection.set_password(secret, by=user)
        stored[connection.uid] = secret
        rows.append(connection)
    Connection.objects.bulk_create(rows, batch_size=1000)
    ids = list(Connection.objects.order_by("pk").values_list("pk", flat=True))
    return Seeded(ids, stored, password, time.perf_counter() - started)


def accounts() -> tuple[dict[str, str], list[str]]:
    """Return the stored Merchant (user id -> API key) and Storefront accounts, decrypted."""
    from connections.models import Connection

    merchants: dict[str, str] = {}
    stores: list[str] = []
    for connection in Connection.objects.iterator(chunk_size=2000):
        if connection.is_merchant:
            merchants[connection.user_id] = connection.get_api_key().reveal()
        else:
            stores.append(connection.username)
    return merchants, stores


def test_outcomes() -> dict[str, int]:
    """Count the connections by the outcome of their latest test (untested left out)."""
    from django.db.models import Count

    from connections.models import Connection

    rows = (
        Connection.objects.exclude(last_test_outcome="")
        .values_list("last_test_outcome")
        .annotate(count=Count("id"))
    )
    return {outcome: count for outcome, count in rows}


@dataclass
class Verdict:
    """What the checks after the load found; empty lists mean all is well."""

    total: int = 0
    created: int = 0
    problems: list[str] = field(default_factory=list)


def verify(seeded: Seeded, run_key: str, attempted: set[str], confirmed: set[str]) -> Verdict:
    """Check every stored connection decrypts to its value and none is lost or duplicated."""
    from connections.models import Connection

    verdict = Verdict()
    seen_uids: set[uuid.UUID] = set()
    seen_names: dict[str, int] = {}
    undecryptable = wrong_value = unexpected = 0
    for connection in Connection.objects.iterator(chunk_size=2000):
        verdict.total += 1
        seen_uids.add(connection.uid)
        key = connection.name.lower()
        seen_names[key] = seen_names.get(key, 0) + 1
        try:
            secret = (
                connection.get_api_key() if connection.is_merchant else connection.get_password()
            ).reveal()
        except Exception:  # any failure to decrypt is what this check exists to count
            undecryptable += 1
            continue
        if connection.uid in seeded.secrets:
            expected = seeded.secrets[connection.uid]
        elif connection.name in attempted:
            verdict.created += 1
            expected = created_secret(run_key, connection.name)
        else:
            unexpected += 1
            continue
        if not secrets.compare_digest(secret, expected):
            wrong_value += 1
    lost_seeded = len(set(seeded.secrets) - seen_uids)
    lost_created = len({name.lower() for name in confirmed} - set(seen_names))
    duplicated = sum(1 for times in seen_names.values() if times > 1)
    for count, what in (
        (undecryptable, "do not decrypt"),
        (wrong_value, "decrypt to another value than they were given"),
        (lost_seeded, "seeded connections are missing"),
        (lost_created, "created connections (confirmed by a redirect) are missing"),
        (duplicated, "names are stored more than once"),
        (unexpected, "connections appeared that nobody created"),
    ):
        if count:
            verdict.problems.append(f"{count:,} {what}")
    return verdict


# --- Driving -----------------------------------------------------------------


@dataclass
class Session:
    sessionid: str
    csrftoken: str


def sign_in(base: str, password: str) -> Session:
    """Sign the bench user in through the real form; return its session cookies."""
    client = requests.Session()
    page = client.get(f"{base}/accounts/login/", timeout=10)
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    if page.status_code != 200 or not match:
        raise SetupError(
            f"GET /accounts/login/ answered {page.status_code} without a sign-in form."
        )
    response = client.post(
        f"{base}/accounts/login/",
        data={"username": BENCH_USERNAME, "password": password, "csrfmiddlewaretoken": match[1]},
        allow_redirects=False,
        timeout=10,
    )
    if response.status_code != 302 or "sessionid" not in client.cookies:
        raise SetupError(f"Signing in answered {response.status_code}, not a redirect.")
    return Session(client.cookies["sessionid"], client.cookies["csrftoken"])


def preflight(
    base: str, session: Session, ids: list[int], mix: list[str], tag: str, run_key: str
) -> str | None:
    """Request every path once (and warm both workers); fail loudly when one is missing.

    Returns the name of the connection the create check stored, if it ran.
    """
    headers = {
        "Cookie": f"sessionid={session.sessionid}; csrftoken={session.csrftoken}",
        "X-CSRFToken": session.csrftoken,
    }
    name = f"Load preflight {tag}"
    checks: list[tuple[str, str, str, dict[str, str], dict[str, str], int, str]] = [
        ("healthz", "GET", "/healthz", {}, {}, 200, "the liveness probe (okendo_site/views.py)"),
        ("list", "GET", "/connections/", {}, {}, 200, "the list page (issue 4)"),
        ("detail", "GET", f"/connections/{ids[0]}/", {}, {}, 200, "the detail page (issue 4)"),
        (
            "create",
            "POST",
            "/connections/new/",
            {
                "name": name,
                "api_type": "merchant",
                "user_id": str(uuid.uuid4()),
                "api_key": created_secret(run_key, name),
            },
            {},
            302,
            "the create view (issue 4) with fields name, api_type, user_id, api_key",
        ),
        (
            "test",
            "POST",
            f"/connections/{ids[0]}/test/",
            {},
            {"HX-Request": "true"},
            200,
            "the Test connection view for saved connections (issue 5)",
        ),
    ]
    for key, method, path, data, extra, expected, what in checks:
        if key != "healthz" and key not in mix:
            continue
        response = requests.request(
            method,
            f"{base}{path}",
            data=data or None,
            headers={**headers, **extra},
            allow_redirects=False,
            timeout=30,
        )
        if response.status_code != expected:
            hint = ""
            if response.status_code == 200 and method == "POST":
                errors = re.findall(r'class="field__error"[^>]*>([^<]+)<', response.text)
                hint = f" The form answered with errors: {'; '.join(errors) or 'none shown'}."
            raise SetupError(
                f"{method} {path} answered {response.status_code}, expected {expected}: "
                f"{what} is missing or broken in this tree, so the benchmark cannot measure it."
                f"{hint} (Leave it out explicitly with --mix if you mean to.)"
            )
    for _ in range(10):  # warm both workers: imports, templates, connections
        for path in ("/healthz", "/connections/", f"/connections/{ids[0]}/"):
            requests.get(f"{base}{path}", headers=headers, timeout=30)
    return name if "create" in mix else None


@dataclass
class PathFigures:
    requests: int
    failures: int
    rps: float
    p50: float
    p95: float


@dataclass
class PhaseResult:
    figures: dict[str, PathFigures]
    statuses: dict[str, dict[str, int]]
    attempted: list[str]
    created: list[str]


def run_locust(
    *,
    phase: str,
    user_class: str,
    base: str,
    users: int,
    seconds: int,
    state: dict[str, Any],
    workdir: Path,
) -> PhaseResult:
    """Run one locust phase headless and return its figures and tallies."""
    state_path = workdir / f"{phase}-state.json"
    results_path = workdir / f"{phase}-results.json"
    state_path.write_text(json.dumps(state), encoding="utf-8")
    prefix = workdir / phase
    log_path = workdir / f"{phase}-locust.log"
    env = {**os.environ, "LOAD_STATE": str(state_path), "LOAD_RESULTS": str(results_path)}
    with log_path.open("wb") as log:
        completed = subprocess.run(
            [
                str(BIN / "locust"),
                "-f",
                str(LOCUSTFILE),
                user_class,
                "--headless",
                "--host",
                base,
                "--users",
                str(users),
                "--spawn-rate",
                str(users),
                "--run-time",
                f"{seconds}s",
                "--reset-stats",
                "--stop-timeout",
                "10",
                "--csv",
                str(prefix),
                "--only-summary",
                "--loglevel",
                "WARNING",
                "--exit-code-on-error",
                "0",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=seconds + 120,
            check=False,
        )
    stats_path = Path(f"{prefix}_stats.csv")
    if completed.returncode != 0 or not results_path.exists() or not stats_path.exists():
        raise SetupError(
            f"locust ({phase} phase) exited with {completed.returncode}:\n"
            f"{log_path.read_text(errors='replace')[-3000:]}"
        )
    figures: dict[str, PathFigures] = {}
    with stats_path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["Name"] == "Aggregated":
                continue
            figures[row["Name"]] = PathFigures(
                requests=int(row["Request Count"]),
                failures=int(row["Failure Count"]),
                rps=float(row["Requests/s"]),
                p50=float(row["50%"]),
                p95=float(row["95%"]),
            )
    results = json.loads(results_path.read_text(encoding="utf-8"))
    return PhaseResult(figures, results["statuses"], results["attempted"], results["created"])


# --- Report ------------------------------------------------------------------


def print_table(result: PhaseResult, seconds: int) -> None:
    """Print each path's figures.

    Requests and rates count the measured window (after every user started);
    the statuses count every answer of the run, warm-up included.
    """
    print()
    print(
        f"{'path':<30} {'requests':>9} {'req/s':>8} {'p50 ms':>7} {'p95 ms':>7}  "
        f"statuses (whole run)"
    )
    for name, figures in result.figures.items():
        statuses = ", ".join(
            f"{code}: {count:,}" for code, count in sorted(result.statuses.get(name, {}).items())
        )
        print(
            f"{name:<30} {figures.requests:>9,} {figures.rps:>8.1f} "
            f"{figures.p50:>7.0f} {figures.p95:>7.0f}  {statuses}"
        )
    print(f"(rates are shares of one mix over {seconds} s, without think time)")


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into SystemExit so the clean-up below runs as it does for Ctrl-C."""

    def handler(signum: int, frame: FrameType | None) -> None:
        sys.stderr.write(
            "\nStopped by SIGTERM; stopping what it started and dropping its database.\n"
        )
        raise SystemExit(143)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="length of the run (60)")
    parser.add_argument(
        "--connections", type=int, default=DEFAULT_CONNECTIONS, help="connections to seed (10000)"
    )
    parser.add_argument("--users", type=int, default=10, help="concurrent simulated users (10)")
    parser.add_argument(
        "--mix",
        default=",".join(MIX),
        help="paths the run drives, from list,detail,create,test (all)",
    )
    args = parser.parse_args(argv)
    args.mix = [part.strip() for part in args.mix.split(",") if part.strip()]
    unknown = sorted(set(args.mix) - set(MIX))
    if unknown or not args.mix:
        parser.error(f"--mix takes names from {','.join(MIX)}; got {','.join(unknown) or 'none'}")
    if args.seconds < 5 or args.connections < 1 or args.users < 1:
        parser.error("--seconds must be at least 5; --connections and --users at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # progress, as it goes
    try:
        with stop_on_sigterm():
            return run(args)
    except SetupError as exc:
        sys.stderr.write(f"\nLoad benchmark could not run: {exc}\n")
        return 2
    except requests.RequestException as exc:
        sys.stderr.write(f"\nLoad benchmark could not run: the site did not answer ({exc}).\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("\nInterrupted; stopped what it started and dropped its database.\n")
        return 130


def run(args: argparse.Namespace) -> int:
    if not (BIN / "locust").exists():
        raise SetupError("locust is not installed: .venv/bin/pip install -e '.[bench]'")
    server_url = loopback_database_url(os.environ.get("DATABASE_URL") or LOCAL_DATABASE_URL)
    tag = f"{time.strftime('%Y%m%d%H%M%S')}{secrets.token_hex(3)}"
    db_name = f"okendo_load_{tag}"
    run_key = secrets.token_hex(16)

    # Outermost, the work directory goes last: gunicorn logs and serves static files there.
    with (
        tempfile.TemporaryDirectory(prefix="okendo-load-") as tmp,
        contextlib.ExitStack() as cleanup,
    ):
        workdir = Path(tmp)
        version = create_database(server_url, db_name)
        cleanup.callback(drop_database, server_url, db_name)
        env = site_environment(with_database(server_url, db_name), workdir / "static")
        print("okendo-connections load benchmark")
        busy = os.getloadavg()[0]
        if busy > 0.5:
            # Other work on the machine shares its two cores with the server.
            print(
                f"warning    the machine is busy before the run (load average {busy:.1f} on "
                f"{os.cpu_count()} cores): expect noisy figures"
            )
        print(f"database   {db_name}, PostgreSQL {version.split()[0]} on 127.0.0.1 (dropped after)")

        os.environ.update(env)
        import django
        from django.core.management import call_command
        from django.db import connections

        django.setup()
        cleanup.callback(connections.close_all)
        for command, options in (
            ("migrate", {"interactive": False}),
            ("createcachetable", {}),
            ("collectstatic", {"interactive": False}),
        ):
            call_command(command, verbosity=0, **options)
        seeded = seed(args.connections)
        print(
            f"seeded     {args.connections:,} connections (both API types, secrets encrypted "
            f"one by one) in {seeded.seconds:.1f} s"
        )

        from tests.fake_okendo import FakeOkendo

        fake = FakeOkendo()
        merchants, stores = accounts()
        for user_id, api_key in merchants.items():
            fake.add_merchant(user_id, api_key)
        for store in stores:
            fake.add_store(store)
        fake.start()
        cleanup.callback(fake.stop)
        connections.close_all()

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        gunicorn_log = workdir / "gunicorn.log"
        served = {
            **env,
            "OKENDO_API_BASE_URL": fake.base_url,
        }
        gunicorn = start_gunicorn(served, port, gunicorn_log)
        cleanup.callback(stop_process, gunicorn, "gunicorn")
        wait_until_serving(base, gunicorn, gunicorn_log)
        print(
            f"server     gunicorn at {base}, 2 sync workers, DEBUG off, whitenoise, "
            f"CACHE_URL=db://; fake Okendo at {fake.base_url}"
        )
        sessions = [sign_in(base, seeded.password) for _ in range(args.users)]
        preflight_name = preflight(base, sessions[0], seeded.ids, args.mix, tag, run_key)
        state = {
            "sessions": [vars(session) for session in sessions],
            "ids": seeded.ids,
            "tag": tag,
            "run_key": run_key,
            "mix": [MIX[key] for key in args.mix],
        }
        print(
            f"load       locust headless, {args.users} users without think time, "
            f"{args.seconds} s: {', '.join(args.mix)}"
        )
        result = run_locust(
            phase="mixed",
            user_class="MixedUser",
            base=base,
            users=args.users,
            seconds=args.seconds,
            state=state,
            workdir=workdir,
        )

        stop_process(gunicorn, "gunicorn")
        server_log = gunicorn_log.read_text(errors="replace")
        preflight_created = {preflight_name} if preflight_name else set()
        verdict = verify(
            seeded,
            run_key,
            {*result.attempted, *preflight_created},
            {*result.created, *preflight_created},
        )
        if not result.figures:
            raise SetupError("locust reported no requests.")
        print_table(result, args.seconds)

        server_errors = sum(
            count
            for statuses in result.statuses.values()
            for code, count in statuses.items()
            if code == "0" or code.startswith("5")
        )
        if server_errors:
            verdict.problems.insert(0, f"{server_errors:,} requests got a 5xx or no answer")
        if "Traceback" in server_log:
            verdict.problems.append("gunicorn logged a traceback:\n" + server_log[-3000:])

        if "test" in args.mix:
            outcomes = ", ".join(f"{word}: {count:,}" for word, count in test_outcomes().items())
            print(f"latest test outcome stored per tested connection: {outcomes or 'none'}")

        print()
        if verdict.problems:
            print("checks: FAILED")
            for problem in verdict.problems:
                print(f"  - {problem}")
        else:
            print(
                f"checks: passed — no 5xx and no unanswered request; all {verdict.total:,} "
                f"connections decrypt to the values they were given ({args.connections:,} seeded, "
                f"{verdict.created:,} created under load); none lost or duplicated"
            )
        return 1 if verdict.problems else 0


if __name__ == "__main__":
    sys.exit(main())
