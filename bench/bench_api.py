"""Benchmark: the REST API against the HTML list and against a bare ``requests.get``.

Run standalone: ``.venv/bin/python bench/bench_api.py [--calls 300] [--rows 10000]``.

Both parts run in one process, in-process through Django's test ``Client`` (full
middleware stack, no socket between client and view), with the SQLite file on
tmpfs when there is one, after a warm-up, calls interleaved so machine noise
hits all alike.

1. ``GET /api/v1/connections/`` (a bearer token, 50 rows serialised) against
   ``GET /connections/`` (a signed-in session, 50 rows rendered) at 10,000
   connections. Two patterns: page 1 asked again and again (what a poller
   does; the HTML list may answer it from pages it keeps), and a different
   page every call (every answer built afresh). Target: API p50 at most 1.5 times the
   HTML list's p50.
2. ``POST /api/v1/connections/<id>/test/`` against a bare ``requests.get`` of
   the same loopback fake Okendo (``tests/fake_okendo.py``), each call with a
   different connection and account (the per-account limiter allows 2 a
   second). Target: at most 5 ms added at the median. The app's own Test
   button (``POST /connections/<id>/test/`` with htmx) is measured beside
   them as a reference for what recording a test costs here.

Prints figures and ratios, never fails.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

import harness

API_KEY = "sk_test_NOT_A_REAL_KEY_000000001"  # 32 characters, as Okendo API keys are
WARM_UP = 20
LIST_TARGET_RATIO = 1.5
TEST_TARGET_ADDED_MS = 5.0


def setup_django(tmp: Path) -> None:
    """Configure Django with the test environment and a throwaway SQLite file."""
    harness.setup_django(sqlite_dir=tmp, cache_url="locmem://")
    harness.quiet_log_handlers()


def stats(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.9)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="measured calls per path")
    parser.add_argument("--rows", type=int, default=10_000, help="connections in the list")
    args = parser.parse_args()
    tmpfs = "/dev/shm"  # noqa: S108 - only a place for this run's throwaway database
    db_dir = tmpfs if Path(tmpfs).is_dir() else tempfile.gettempdir()
    with tempfile.TemporaryDirectory(prefix="bench-api-", dir=db_dir) as tmp:
        setup_django(Path(tmp))
        return measure(calls=max(50, args.calls), rows=args.rows, db_dir=db_dir)


def measure(*, calls: int, rows: int, db_dir: str) -> int:
    import requests
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from connections.api.tokens import api_token_create
    from connections.models import Connection
    from tests.fake_okendo import FakeOkendo

    call_command("migrate", verbosity=0)
    # Pages render without collectstatic, as in the tests (whitenoise is not measured).
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.CONNECTIONS_API_THROTTLE_RATE = ""  # thousands of calls from one token
    total = WARM_UP + calls
    with FakeOkendo() as okendo:
        settings.OKENDO_API_BASE_URL = okendo.base_url
        accounts = [str(uuid.uuid4()) for _ in range(rows)]
        for account in accounts[: 3 * total]:
            okendo.add_merchant(account, API_KEY)
        batch = []
        for index, account in enumerate(accounts):
            connection = Connection(name=f"Shop {index:05}", api_type="merchant", user_id=account)
            connection.set_api_key(API_KEY)
            connection.status = ("untested", "online", "offline")[index % 3]
            batch.append(connection)
        Connection.objects.bulk_create(batch, batch_size=1000)
        pks = list(Connection.objects.order_by("pk").values_list("pk", flat=True))
        admin = get_user_model().objects.create_superuser("bench", password=None)
        browser = Client()
        browser.force_login(admin)
        _, token = api_token_create(user=admin, name="bench")
        api = Client(headers={"Authorization": f"Bearer {token}"})
        pages = max(1, rows // 50)

        def html_list(page: int) -> None:
            response = browser.get("/connections/", {"page": page} if page > 1 else None)
            assert response.status_code == 200

        def api_list(page: int) -> None:
            response = api.get("/api/v1/connections/", {"page": page} if page > 1 else None)
            assert response.status_code == 200
            assert len(response.json()["results"]) == 50

        samples: dict[str, list[float]] = {
            k: []
            for k in (
                "html same",
                "api same",
                "html varied",
                "api varied",
                "bare",
                "test",
                "html test",
            )
        }
        for i in range(total):
            page = 1 + (i * 7919) % pages  # a different page each call, spread over the list
            rounds: list[tuple[str, Callable[[int], None], int]] = [
                ("html same", html_list, 1),
                ("api same", api_list, 1),
                ("html varied", html_list, page),
                ("api varied", api_list, page),
            ]
            for name, call, number in rounds:
                elapsed = harness.timed_ms(lambda call=call, number=number: call(number))  # type: ignore[misc]
                if i >= WARM_UP:
                    samples[name].append(elapsed)

        url = okendo.base_url + "/enterprise/reviews"
        headers = {"okendo-api-version": "2025-02-01", "Accept": "application/json"}

        def bare(i: int) -> None:
            response = requests.get(
                url,
                params={"limit": "1"},
                auth=(accounts[2 * total + i], API_KEY),
                headers=headers,
                timeout=(5, 10),
            )
            assert response.status_code == 200

        def api_test(i: int) -> None:
            response = api.post(f"/api/v1/connections/{pks[i]}/test/")
            assert response.json()["outcome"] == "ok", response.content[:300]

        def html_test(i: int) -> None:
            response = browser.post(f"/connections/{pks[total + i]}/test/", HTTP_HX_REQUEST="true")
            assert b'data-outcome="ok"' in response.content, response.content[:300]

        for i in range(total):
            for name, test_call in (("bare", bare), ("test", api_test), ("html test", html_test)):
                elapsed = harness.timed_ms(lambda test_call=test_call, i=i: test_call(i))  # type: ignore[misc]
                if i >= WARM_UP:
                    samples[name].append(elapsed)

    print(f"{rows} connections, {calls} calls per path after {WARM_UP} warm-up; SQLite in {db_dir}")
    print(f"{'path':<46} {'p50 ms':>8} {'p90 ms':>8} {'ratio':>7}")
    for pattern in ("same", "varied"):
        html, _ = stats(samples[f"html {pattern}"])
        for name, label in (
            (f"html {pattern}", f"GET /connections/ ({pattern} page, baseline)"),
            (f"api {pattern}", f"GET /api/v1/connections/ ({pattern} page)"),
        ):
            p50, p90 = stats(samples[name])
            print(f"{label:<46} {p50:>8.2f} {p90:>8.2f} {p50 / html:>7.2f}")
    base, _ = stats(samples["bare"])
    for name, label in (
        ("bare", "requests.get to the fake (baseline)"),
        ("test", "POST /api/v1/connections/<id>/test/"),
        ("html test", "POST /connections/<id>/test/ (htmx, reference)"),
    ):
        p50, p90 = stats(samples[name])
        print(f"{label:<46} {p50:>8.2f} {p90:>8.2f} {p50 / base:>7.2f}")
    for pattern in ("same", "varied"):
        ratio = stats(samples[f"api {pattern}"])[0] / stats(samples[f"html {pattern}"])[0]
        verdict = "meets" if ratio <= LIST_TARGET_RATIO else "MISSES"
        print(
            f"API list ({pattern} page) p50 is {ratio:.2f}x the HTML list's: {verdict} the "
            f"target of at most {LIST_TARGET_RATIO:g}x"
        )
    added = stats(samples["test"])[0] - base
    verdict = "meets" if added <= TEST_TARGET_ADDED_MS else "MISSES"
    print(
        f"POST test adds {added:.2f} ms at the median over requests.get: {verdict} the target "
        f"of at most {TEST_TARGET_ADDED_MS:g} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
