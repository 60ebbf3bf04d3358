"""Benchmark: what the API's pass-through adds over a bare ``requests.get`` to the same fake.

Run standalone: ``.venv/bin/python bench/bench_passthrough.py [--calls 300] [--limit 25]``.

In one process: the loopback fake Okendo (``tests/fake_okendo.py``) serves every
Merchant account 60 generated reviews. Each round, interleaved so machine noise
hits both alike, and after a warm-up:

* **baseline**: ``requests.get`` of ``/enterprise/reviews?limit=N`` with the
  account's Basic credentials and Okendo's version header;
* **pass-through**: ``GET /api/v1/connections/<id>/reviews/?limit=N`` through
  Django's test ``Client`` (full middleware stack, a bearer token): the token
  check, the read_data permission, decrypting the secret, the per-account
  limiter, the same request to the fake, the history event, the signed cursor.

Each call uses another connection and account, so Okendo's 2 requests a second
per account never makes either side wait; the connections are Online already,
as when a system polls one. Target: the pass-through adds at
most 5 ms at the median. Prints both p50s and the difference, never fails.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

import harness

API_KEY = "sk_test_NOT_A_REAL_KEY_000000001"  # 32 characters, as Okendo API keys are
WARM_UP = 20
TARGET_ADDED_MS = 5.0


def setup_django(tmp: Path) -> None:
    """Configure Django with the test environment and a throwaway SQLite file."""
    harness.setup_django(sqlite_dir=tmp, cache_url="locmem://")
    logging.disable(logging.WARNING)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="measured calls per side")
    parser.add_argument("--limit", type=int, default=25, help="reviews a page (1-100)")
    args = parser.parse_args()
    tmpfs = "/dev/shm"  # noqa: S108 - only a place for this run's throwaway database
    db_dir = tmpfs if Path(tmpfs).is_dir() else tempfile.gettempdir()
    with tempfile.TemporaryDirectory(prefix="bench-passthrough-", dir=db_dir) as tmp:
        setup_django(Path(tmp))
        return measure(calls=max(50, args.calls), limit=args.limit)


def measure(*, calls: int, limit: int) -> int:
    import requests
    from django.conf import settings
    from django.contrib.auth.models import Permission, User
    from django.core.management import call_command
    from django.test import Client

    from connections.api.tokens import api_token_create
    from connections.models import Connection
    from connections.okendo import API_VERSION
    from tests.fake_okendo import FakeOkendo

    call_command("migrate", verbosity=0)
    settings.CONNECTIONS_API_THROTTLE_RATE = ""  # hundreds of calls from one token
    total = WARM_UP + calls
    with FakeOkendo() as okendo:
        settings.OKENDO_API_BASE_URL = okendo.base_url
        accounts = [str(uuid.uuid4()) for _ in range(2 * total)]
        batch = []
        for account in accounts:
            okendo.add_merchant(account, API_KEY)
            okendo.serve_reviews(account, 60)
            connection = Connection(
                name=f"Shop {account[:8]}", api_type="merchant", user_id=account
            )
            connection.set_api_key(API_KEY)
            # Steady state: a poller reads a connection that is already Online (the read
            # that first finds it so costs one UPDATE more, and is not what is measured).
            connection.status = Connection.Status.ONLINE
            batch.append(connection)
        Connection.objects.bulk_create(batch)
        pks = list(Connection.objects.order_by("pk").values_list("pk", flat=True))
        reader = User.objects.create_user("bench")
        reader.user_permissions.add(
            *Permission.objects.filter(codename__in=["view_connection", "read_data"])
        )
        _, token = api_token_create(user=reader, name="bench")
        api = Client(headers={"Authorization": f"Bearer {token}"})
        url = okendo.base_url + "/enterprise/reviews"
        headers = {"okendo-api-version": API_VERSION, "Accept": "application/json"}

        def bare(i: int) -> None:
            response = requests.get(
                url,
                params={"limit": str(limit)},
                auth=(accounts[total + i], API_KEY),
                headers=headers,
                timeout=(5, 10),
            )
            assert len(response.json()["reviews"]) == limit

        def passthrough(i: int) -> None:
            response = api.get(f"/api/v1/connections/{pks[i]}/reviews/", {"limit": str(limit)})
            assert response.status_code == 200, response.content[:300]
            body = response.json()
            assert len(body["reviews"]) == limit
            assert body["next_cursor"]

        samples: dict[str, list[float]] = {"bare": [], "passthrough": []}
        for i in range(total):
            for name, call in (("bare", bare), ("passthrough", passthrough)):
                elapsed = harness.timed_ms(lambda call=call, i=i: call(i))  # type: ignore[misc]
                if i >= WARM_UP:
                    samples[name].append(elapsed)

    bare_p50 = statistics.median(samples["bare"])
    api_p50 = statistics.median(samples["passthrough"])
    added = api_p50 - bare_p50
    verdict = "within" if added <= TARGET_ADDED_MS else "OVER"
    print(f"{calls} calls each, {limit} reviews a page, a fresh account per call")
    print(f"  bare requests.get to the fake (baseline) p50 {bare_p50:7.2f} ms")
    print(f"  GET /api/v1/connections/<id>/reviews/    p50 {api_p50:7.2f} ms")
    print(
        f"pass-through adds {added:.2f} ms at the median (ratio {api_p50 / bare_p50:.2f}): "
        f"{verdict} the target of {TARGET_ADDED_MS:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
