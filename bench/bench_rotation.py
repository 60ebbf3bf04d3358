"""Benchmark: key rotation over 10,000 and 100,000 rows — rows per second and peak memory.

Run standalone: ``.venv/bin/python bench/bench_rotation.py [--sizes 10000,100000]``.
Each size gets a fresh temporary SQLite file, rows bulk-created with secrets
under an old key, then ``rotation.rotate`` (what ``manage.py
rotate_encryption_keys`` runs) re-encrypts them under a new key. Speed is
measured without tracemalloc; peak memory in a second pass (rotating back)
with it. The smallest size is the baseline: the target is that peak memory
does not grow with the row count (ratio about 1). Prints, never fails.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

import harness

BATCH_SIZE = 500


def setup_django(tmp: Path) -> None:
    """Configure Django with the test environment and a throwaway SQLite file."""
    harness.setup_django(sqlite_dir=tmp)


def fake_spec(key_id: str) -> str:
    material = hashlib.sha256(f"bench-only-{key_id}".encode()).digest()
    return f"{key_id}:{base64.b64encode(material).decode()}"


def seed(count: int, old_spec: str) -> None:
    """Bulk-create ``count`` connections with secrets encrypted under ``old_spec``."""
    from connections import keyring
    from connections.models import Connection

    ring = keyring.Keyring(current=keyring.parse_key_spec(old_spec, name="bench"))
    label = Connection._meta.label
    rows = []
    for n in range(count):
        uid = uuid.uuid4()
        field = "password" if n % 3 == 0 else "api_key"
        row = Connection(uid=uid, name=f"Bench {n:07d}", api_type="merchant")
        secret = f"sk_test_NOT_A_REAL_KEY_{n:010d}"
        binding = keyring.Binding(label, field, uid)
        setattr(row, f"{field}_encrypted", keyring.encrypt(secret, binding, keyring=ring))
        setattr(row, f"{field}_fingerprint", keyring.fingerprint(secret, keyring=ring))
        rows.append(row)
        if len(rows) == 5_000:
            Connection.objects.bulk_create(rows)
            rows = []
    Connection.objects.bulk_create(rows)


def rotate_all(current: str, fallback: str) -> Any:
    from django.test import override_settings

    from connections import rotation
    from connections.models import SECRET_FIELDS, Connection

    with override_settings(
        CONNECTIONS_ENCRYPTION_KEY=current, CONNECTIONS_ENCRYPTION_KEY_FALLBACKS=[fallback]
    ):
        return rotation.rotate(model=Connection, fields=SECRET_FIELDS, batch_size=BATCH_SIZE)


def measure(count: int) -> dict[str, float]:
    from django.core.management import call_command
    from django.db import connection

    old, new = fake_spec("old1"), fake_spec("new2")
    call_command("migrate", verbosity=0)
    seed(count, old)

    started = time.perf_counter()
    report = rotate_all(new, old)
    elapsed = time.perf_counter() - started
    assert report.rotated == count, report
    assert report.failed == 0, report

    tracemalloc.start()
    report = rotate_all(old, new)  # rotate back: the same work, now traced
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert report.rotated == count, report
    assert report.failed == 0, report
    connection.close()
    return {"rows": count, "seconds": elapsed, "rows_per_s": count / elapsed, "peak": peak}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated row counts")
    sizes = [int(size) for size in parser.parse_args().sizes.split(",")]

    results = []
    with tempfile.TemporaryDirectory(prefix="bench-rotation-") as tmp:
        setup_django(Path(tmp))
        from django.db import connection

        for size in sizes:
            connection.close()
            db_file = Path(tmp) / f"rotation-{size}.sqlite3"
            connection.settings_dict["NAME"] = str(db_file)
            results.append(measure(size))

    baseline = results[0]
    print(
        f"Key rotation, batches of {BATCH_SIZE}, SQLite file (baseline: {baseline['rows']:,} rows)"
    )
    for result in results:
        speed_ratio = result["rows_per_s"] / baseline["rows_per_s"]
        memory_ratio = result["peak"] / baseline["peak"]
        print(
            f"  {result['rows']:>9,} rows: {result['seconds']:6.1f} s, "
            f"{result['rows_per_s']:>8,.0f} rows/s (x{speed_ratio:.2f}), "
            f"peak memory {result['peak'] / 1024:8.1f} KiB (x{memory_ratio:.2f})"
        )
    worst = max(result["peak"] / baseline["peak"] for result in results)
    verdict = "flat" if worst <= 1.25 else "GROWS with the row count"
    print(f"  peak memory ratio largest/baseline: {worst:.2f}x ({verdict}; target about 1x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
