"""What the benchmarks share: Django set up as the tests set it up, and a timer.

The scripts run as ``python bench/<name>.py``, so this directory is on
``sys.path`` and they import this module as ``harness``.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django(*, sqlite_dir: Path | None = None, cache_url: str | None = None) -> None:
    """Set up Django with the tests' obviously fake keys (``tests/environment.py``).

    ``sqlite_dir`` puts the database in a throwaway SQLite file there; ``None``
    keeps ``DATABASE_URL`` as the environment sets it. ``cache_url`` likewise
    replaces ``CACHE_URL``.
    """
    sys.path.insert(0, str(ROOT))
    if sqlite_dir is not None:
        os.environ["DATABASE_URL"] = f"sqlite:///{sqlite_dir / 'bench.sqlite3'}"
    if cache_url is not None:
        os.environ["CACHE_URL"] = cache_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "okendo_site.settings")
    import django

    import tests.environment  # noqa: F401  (sets the fake keys before settings load)

    django.setup()


def quiet_log_handlers() -> None:
    """Send the log lines (still formatted, as in production) to /dev/null, not the terminal."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 - lives for the run


def timed_ms(call: Callable[[], None]) -> float:
    """Return how long ``call()`` took, in milliseconds of ``time.perf_counter``."""
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000
