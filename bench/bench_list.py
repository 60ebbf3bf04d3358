"""Benchmark: the list and detail pages at 1,000, 10,000 and 100,000 connections.

Run standalone: ``.venv/bin/python bench/bench_list.py [--sizes 1000,10000,100000]``.

Runs on the database server ``DATABASE_URL`` names (SQLite when unset) but
never on its data: Django's test-database machinery creates one throwaway
database per size beside it (``bench_list_<pid>_<size>`` on PostgreSQL, in
memory on SQLite), migrates them and drops them at the end, as the test runner
does. Each is seeded with ``bulk_create``: every secret is encrypted through
the model and the keyring, one by one, since each ciphertext is bound to its
row's uid. A database router sends each request to one size's database, so the
sizes are measured interleaved, in rounds that request every page at every size
once: load from other work on the machine hits all sizes alike. Requests go
through Django's test client, signed in as a user who may view connections.

Prints p50/p95 per page and size, the queries per request, and the ratio of
the largest size's p50 to the smallest's, measured in the same run (the
baseline). Target on PostgreSQL: every ratio <= 1.5 and the same queries per
request at every size. Prints, never fails.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from typing import Any

import harness

TARGET_RATIO = 1.5
DEFAULT_SIZES = (1_000, 10_000, 100_000)
BATCH_SIZE = 2_000
BRANDS = ("Aurora", "Birch", "Cedar", "Dune", "Ember", "Fjord", "Grove", "Harbor", "Iris", "Juno")
KINDS = ("Reviews", "Loyalty", "Storefront", "Referrals", "Analytics")
# 60 % online, 25 % offline, 15 % untested.
STATUSES = ("online",) * 12 + ("offline",) * 5 + ("untested",) * 3
# "reviews 0004" matches the same 20 rows at every size from 1,000 up.
PAGES = {
    "list page 1, name A-Z": "/connections/",
    "list, last updated first": "/connections/?sort=-updated",
    "list page 100": "/connections/?page=100",
    "list, search": "/connections/?q=reviews+0004",
    "list, type + status": "/connections/?api_type=storefront&status=offline",
}
DETAIL = "detail"


def setup_django() -> None:
    """Configure Django with the test environment (fake keys) and ``DATABASE_URL``."""
    harness.setup_django()
    from django.conf import settings

    # As the tests do: pages render without collectstatic's manifest or its directory.
    settings.STATIC_ROOT = tempfile.mkdtemp(prefix="bench-list-static-")
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def seed(start: int, stop: int, *, by: Any) -> None:
    """Store connections ``start`` to ``stop - 1``: both types, every status, real secrets."""
    from django.utils import timezone

    from connections.models import Connection

    now = timezone.now()
    rows = []
    for index in range(start, stop):
        # Type and status drawn independently of the name, as they are in life; the
        # same draws at every size (seeded by the row's number).
        draw = random.Random(index)
        status = draw.choice(STATUSES)
        row = Connection(
            name=f"{BRANDS[index % 10]} {KINDS[index // 10 % 5]} {index:06d}",
            api_type=draw.choice(("merchant", "storefront")),
            status=status,
            last_tested_at=None if status == "untested" else now - timedelta(hours=index % 97),
            last_test_outcome="" if status == "untested" else "ok",
            created_by=by,
            updated_at=now - timedelta(minutes=index),
        )
        secret = f"NOTREAL{index:025d}"
        if row.api_type == "merchant":
            row.user_id = str(uuid.UUID(int=index))
            row.set_api_key(secret, by=by)
        else:
            row.username = str(uuid.UUID(int=index))
            row.set_password(secret, by=by)
        rows.append(row)
        if len(rows) == BATCH_SIZE:
            Connection.objects.bulk_create(rows)
            rows = []
    Connection.objects.bulk_create(rows)


class SizeRouter:
    """Send every query to the database of the size being measured (Django's router API)."""

    alias = "default"

    def db_for_read(self, model: Any, **hints: Any) -> str:
        return self.alias

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return self.alias

    def allow_relation(self, *objects: Any, **hints: Any) -> bool:
        return True

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return True


def refresh_statistics(alias: str) -> None:
    """Let PostgreSQL plan with current statistics, as autovacuum would after an import."""
    from django.db import connections

    if connections[alias].vendor == "postgresql":
        with connections[alias].cursor() as cursor:
            cursor.execute("VACUUM ANALYZE connections_connection")


def queries_per_request(client: Any, alias: str, urls: dict[str, str]) -> dict[str, int]:
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    counts = {}
    for name, url in urls.items():
        with CaptureQueriesContext(connections[alias]) as captured:
            client.get(url)
        counts[name] = len(captured.captured_queries)
    return counts


def get(client: Any, url: str) -> float:
    """Request ``url``; return the milliseconds it took."""
    started = time.perf_counter()
    response = client.get(url)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"GET {url} answered {response.status_code}")
    return elapsed


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default=",".join(str(size) for size in DEFAULT_SIZES),
        help="connection counts, comma-separated (1000,10000,100000)",
    )
    parser.add_argument("--rounds", type=int, default=40, help="timed requests per page (40)")
    args = parser.parse_args()
    try:
        args.sizes = sorted({int(part) for part in args.sizes.split(",") if part.strip()})
    except ValueError:
        parser.error("--sizes takes whole numbers, e.g. 1000,10000")
    if len(args.sizes) < 2 or args.sizes[0] < 1 or args.rounds < 5:
        parser.error("--sizes needs two sizes or more, each at least 1; --rounds at least 5")
    return args


def add_databases(sizes: list[int]) -> dict[int, str]:
    """Add one database alias per size, copies of the configured one; return them by size."""
    from django.conf import settings
    from django.db import connections

    default = settings.DATABASES["default"]
    aliases = {}
    for size in sizes:
        aliases[size] = f"size_{size}"
        # A name of its own: a test run against the same server uses test_<name>.
        name = None if default["ENGINE"].endswith("sqlite3") else f"bench_list_{os.getpid()}_{size}"
        settings.DATABASES[aliases[size]] = {**default, "TEST": {"NAME": name}}
    connections.configure_settings(settings.DATABASES)  # Django's defaults for the new aliases
    settings.DATABASE_ROUTERS = [SizeRouter()]
    return aliases


def report(sizes: list[int], results: dict[int, dict[str, list[float]]], queries: Any) -> None:
    smallest, largest = sizes[0], sizes[-1]
    header = "".join(f" {f'{size:,}':>17}" for size in sizes)
    print()
    print(f"{'p50 / p95 ms':<26}{header}  {'ratio':>6}  queries")
    worst = 0.0
    same_queries = True
    for name in results[smallest]:
        cells = "".join(
            f" {statistics.median(results[size][name]):>8.1f} /{p95(results[size][name]):>6.1f}"
            for size in sizes
        )
        ratio = statistics.median(results[largest][name]) / statistics.median(
            results[smallest][name]
        )
        worst = max(worst, ratio)
        counts = [queries[size][name] for size in sizes]
        same_queries &= len(set(counts)) == 1
        print(f"{name:<26}{cells}  {ratio:>5.2f}x  {'/'.join(str(c) for c in counts)}")
    verdict = "within" if worst <= TARGET_RATIO else "ABOVE"
    print(
        f"worst ratio {largest:,}/{smallest:,} (p50): {worst:.2f}x ({verdict} the "
        f"{TARGET_RATIO}x target, meant for PostgreSQL); queries per request "
        f"{'the same at every size' if same_queries else 'DIFFER between sizes'}"
    )


def main() -> int:
    args = parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # progress as it goes
    setup_django()
    aliases = add_databases(args.sizes)
    from django.contrib.auth.models import Permission, User
    from django.db import connections
    from django.test import Client
    from django.test.utils import setup_test_environment

    from connections.models import Connection

    setup_test_environment()
    created: list[tuple[str, str]] = []
    try:
        clients: dict[int, Any] = {}
        urls: dict[int, dict[str, str]] = {}
        for size, alias in aliases.items():
            # Before migrating too: data migrations write through the router.
            SizeRouter.alias = alias
            original_name = connections[alias].settings_dict["NAME"]
            connections[alias].creation.create_test_db(
                verbosity=0, autoclobber=True, serialize=False
            )
            created.append((alias, original_name))
            started = time.perf_counter()
            viewer = User.objects.create_user("bench-viewer")
            viewer.user_permissions.set(Permission.objects.filter(codename="view_connection"))
            seed(0, size, by=viewer)
            refresh_statistics(alias)
            clients[size] = Client()
            clients[size].force_login(viewer)
            first = Connection.objects.order_by("pk").values_list("pk", flat=True).first()
            urls[size] = {**PAGES, DETAIL: f"/connections/{first}/"}
            print(f"  {size:>7,} connections seeded in {time.perf_counter() - started:.1f} s")
        vendor = connections[aliases[args.sizes[0]]].vendor
        print(
            f"List and detail through Django's test client on {vendor} (throwaway databases), "
            f"sizes interleaved, {args.rounds} requests a page and size"
        )
        queries = {}
        for size, alias in aliases.items():
            SizeRouter.alias = alias
            queries[size] = queries_per_request(clients[size], alias, urls[size])
            for _ in range(3):  # warm-up: templates, plans, caches
                for url in urls[size].values():
                    get(clients[size], url)
        results: dict[int, dict[str, list[float]]] = {
            size: {name: [] for name in urls[size]} for size in args.sizes
        }
        for _ in range(args.rounds):
            for name in results[args.sizes[0]]:
                for size, alias in aliases.items():
                    SizeRouter.alias = alias
                    results[size][name].append(get(clients[size], urls[size][name]))
        report(args.sizes, results, queries)
    finally:
        for alias, original_name in reversed(created):
            connections[alias].close()
            connections[alias].creation.destroy_test_db(original_name, verbosity=0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
