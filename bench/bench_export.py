"""Benchmark: ``manage.py export_reviews`` throughput at Okendo's limit, and its memory.

Run standalone: ``.venv/bin/python bench/bench_export.py [--reviews 10000] [--baseline-pages N]
[--small 1000] [--large 50000] [--only throughput|memory]``.

The fake Okendo (``tests/fake_okendo.py``) runs in its own process on
127.0.0.1, so neither its CPU nor its memory counts against the export.
Merchant pages of 100 reviews.

* **Throughput.** The export runs with the per-account limiter as in
  production: 2 requests a second, so at most 2 x 100 = 200 reviews/s. That
  bound is the target's baseline (at least 0.9 of it over ``--reviews``, 10,000
  by default: about 50 s). A second baseline is measured in the same run: a
  bare ``requests.get`` loop through the same limiter, which does nothing but
  fetch pages. The export must waste nothing beyond what the limit imposes.
* **Memory.** Peak traced memory (tracemalloc) of an export of ``--small``
  (1,000) and ``--large`` (50,000) reviews to a JSONL file, above what the
  process held when the export started (after a warm-up that fills the
  process's bounded caches). The limiter's
  waits are skipped here (the clock jumps instead of sleeping, as in the
  tests), because memory, not time, is measured. Target: large/small ≤ 1.2,
  i.e. memory flat however many reviews.

Prints, never fails.
"""

from __future__ import annotations

import argparse
import gc
import io
import logging
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import harness

ROOT = harness.ROOT
PAGE = 100
LIMIT_REVIEWS_PER_SECOND = 2 * PAGE
TARGET_THROUGHPUT = 0.9
TARGET_MEMORY_RATIO = 1.2
API_KEY = "sk_test_NOT_A_REAL_KEY_000000001"  # 32 characters, as Okendo API keys are
USER_IDS = {
    "throughput": "1c8f0b3e-3f5a-4d4e-9a57-2f0c8e9b6d21",
    "warm-up": "2d9e1c4f-4a6b-4e5f-8b68-3a1d9f0c7e32",
    "small": "3eaf2d50-5b7c-4f60-9c79-4b2e0a1d8f43",
    "large": "4fb03e61-6c8d-4071-8d8a-5c3f1b2e9054",
}


def setup_django(tmp: Path) -> None:
    """Configure Django with the test environment and a throwaway SQLite file."""
    # The cache production uses on one host: the limiter's slots live in the database,
    # not in this process (LocMemCache would keep one expired key per request here).
    harness.setup_django(sqlite_dir=tmp, cache_url="db://")
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    logging.disable(logging.INFO)


def start_fake(sizes: dict[str, int]) -> tuple[subprocess.Popen[str], str]:
    """Start the fake Okendo in its own process; return it and its base URL."""
    command = [sys.executable, "-m", "tests.fake_okendo"]
    for name, count in sizes.items():
        command += ["--merchant", USER_IDS[name], API_KEY, str(count)]
    process = subprocess.Popen(
        command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def stop_fake(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None
    process.stdin.close()
    process.wait(timeout=10)


def connection_for(name: str) -> Any:
    from connections.models import Connection

    connection = Connection(name=f"bench {name}", api_type="merchant", user_id=USER_IDS[name])
    connection.set_api_key(API_KEY)
    connection.save()
    return connection


def export(connection: Any, output: Path, *, limit: int = PAGE) -> None:
    from django.core.management import call_command

    call_command(
        "export_reviews",
        str(connection.pk),
        "--format",
        "jsonl",
        "--output",
        str(output),
        "--limit",
        str(limit),
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )


def bare_pages(base_url: str, pages: int) -> float:
    """Fetch ``pages`` pages with ``requests.get`` through the limiter; return reviews/s."""
    import requests

    from connections.okendo import API_VERSION
    from connections.ratelimit import AccountRateLimiter

    limiter = AccountRateLimiter()
    user_id = USER_IDS["throughput"]
    params = {"limit": str(PAGE)}
    reviews = 0
    started = time.perf_counter()
    for _ in range(pages):
        wait = limiter.reserve(f"bare:{user_id}", 30.0)
        assert wait is not None
        time.sleep(wait)
        answer = requests.get(
            f"{base_url}/enterprise/reviews",
            params=params,
            auth=(user_id, API_KEY),
            headers={"okendo-api-version": API_VERSION},
            timeout=10,
        ).json()
        reviews += len(answer["reviews"])
        if "nextUrl" not in answer:
            break
        params["lastEvaluated"] = parse_qs(urlsplit(answer["nextUrl"]).query)["lastEvaluated"][0]
    return reviews / (time.perf_counter() - started)


def throughput(tmp: Path, reviews: int, baseline_pages: int) -> None:
    from django.conf import settings

    fake, base_url = start_fake({"throughput": reviews})
    try:
        settings.OKENDO_API_BASE_URL = base_url
        bare = bare_pages(base_url, baseline_pages)
        connection = connection_for("throughput")
        output = tmp / "throughput.jsonl"
        started = time.perf_counter()
        export(connection, output)
        elapsed = time.perf_counter() - started
    finally:
        stop_fake(fake)
    lines = sum(1 for _ in output.open())
    rate = lines / elapsed
    ratio = rate / LIMIT_REVIEWS_PER_SECOND
    print(f"throughput: {lines:,} reviews in {elapsed:.1f} s = {rate:.1f} reviews/s")
    print(
        f"  baseline, the limit's maximum: {LIMIT_REVIEWS_PER_SECOND} reviews/s "
        f"-> ratio {ratio:.3f} (target >= {TARGET_THROUGHPUT}) "
        f"{'OK' if ratio >= TARGET_THROUGHPUT else 'MISSED'}"
    )
    print(
        f"  baseline, bare requests.get through the same limiter ({baseline_pages} pages): "
        f"{bare:.1f} reviews/s -> ratio {rate / bare:.3f}"
    )


def memory(tmp: Path, small: int, large: int) -> None:
    from django.conf import settings

    from connections import services
    from connections.okendo import SYSTEM_CLOCK

    class NoWaiting:
        """Real time, except that a wait moves the clock on instead of sleeping."""

        offset = 0.0

        def monotonic(self) -> float:
            return SYSTEM_CLOCK.monotonic() + self.offset

        def time(self) -> float:
            return SYSTEM_CLOCK.time() + self.offset

        def sleep(self, seconds: float) -> None:
            self.offset += seconds

    fake, base_url = start_fake({"warm-up": 400, "small": small, "large": large})
    peaks: dict[str, int] = {}
    try:
        settings.OKENDO_API_BASE_URL = base_url
        services.clock = NoWaiting()  # the limiter's waits are skipped: memory is measured
        # Traced from before the warm-up, so that the bounded caches it fills (urllib's
        # urlsplit cache, sqlite3's statement cache and cursor list) are counted once,
        # and a run that replaces their entries adds nothing. Each run's figure is its
        # peak above what was allocated when it started.
        tracemalloc.start()
        # One review a page: 400 requests fill those caches and do the lazy imports.
        export(connection_for("warm-up"), tmp / "warm-up.jsonl", limit=1)
        for name in ("small", "large"):
            connection = connection_for(name)
            gc.collect()
            before = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            export(connection, tmp / f"{name}.jsonl")
            peaks[name] = tracemalloc.get_traced_memory()[1] - before
        tracemalloc.stop()
    finally:
        stop_fake(fake)
    ratio = peaks["large"] / peaks["small"]
    print(
        f"memory: peak {peaks['small'] / 1024:.0f} KiB for {small:,} reviews, "
        f"{peaks['large'] / 1024:.0f} KiB for {large:,} reviews"
    )
    print(
        f"  ratio large/small {ratio:.3f} (target <= {TARGET_MEMORY_RATIO}) "
        f"{'OK' if ratio <= TARGET_MEMORY_RATIO else 'MISSED'}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reviews", type=int, default=10_000, help="throughput run size")
    parser.add_argument(
        "--baseline-pages",
        type=int,
        help="pages of the bare requests baseline (default: as many as the export's)",
    )
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=50_000)
    parser.add_argument("--only", choices=["throughput", "memory"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-export-") as name:
        tmp = Path(name)
        setup_django(tmp)
        if args.only != "memory":
            pages = args.baseline_pages or -(-args.reviews // PAGE)
            throughput(tmp, args.reviews, pages)
        if args.only != "throughput":
            memory(tmp, args.small, args.large)
    return 0


if __name__ == "__main__":
    sys.exit(main())
