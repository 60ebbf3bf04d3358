"""Benchmark: encrypt + decrypt of a 32-byte secret through the keyring vs raw AESGCM.

Run standalone: ``.venv/bin/python bench/bench_crypto.py``. The baseline is
cryptography's AESGCM called directly (cipher built once, a fresh random
nonce per value, the same associated data), measured in the same run,
interleaved with the keyring in rounds so that machine noise hits both alike.
Target: the keyring costs at most 3x the raw cipher. Prints, never fails.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable
from pathlib import Path

import harness

TARGET_RATIO = 3.0
SECRET = "sk_test_NOT_A_REAL_KEY_000000001"  # 32 characters, obviously fake
ROUNDS = 15
OPS_PER_ROUND = 20_000


def setup_django(tmp: Path) -> None:
    """Configure Django with the test environment and a throwaway SQLite file."""
    harness.setup_django(sqlite_dir=tmp)


def per_op_seconds(operation: Callable[[], object], count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        operation()
    return (time.perf_counter() - started) / count


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-crypto-") as tmp:
        setup_django(Path(tmp))
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        from connections import keyring

        ring = keyring.get_keyring()
        binding = keyring.Binding(model="connections.Connection", field="api_key", row=uuid.uuid4())
        associated_data = binding.associated_data(ring.current.key_id)
        aead = AESGCM(ring.current.material)
        data = SECRET.encode()

        def raw() -> None:
            nonce = os.urandom(12)
            aead.decrypt(nonce, aead.encrypt(nonce, data, associated_data), associated_data)

        def through_keyring() -> None:
            # As the model calls it: the keyring from settings, built once and cached.
            keyring.decrypt(keyring.encrypt(SECRET, binding), binding)

        assert keyring.decrypt(keyring.encrypt(SECRET, binding), binding).secret.reveal() == SECRET
        per_op_seconds(raw, 2_000)  # warm up both paths
        per_op_seconds(through_keyring, 2_000)

        raw_times, ring_times, ratios = [], [], []
        for _ in range(ROUNDS):
            raw_time = per_op_seconds(raw, OPS_PER_ROUND)
            ring_time = per_op_seconds(through_keyring, OPS_PER_ROUND)
            raw_times.append(raw_time)
            ring_times.append(ring_time)
            ratios.append(ring_time / raw_time)

        tracemalloc.start()
        per_op_seconds(through_keyring, OPS_PER_ROUND)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

    raw_median = statistics.median(raw_times)
    ring_median = statistics.median(ring_times)
    ratio = statistics.median(ratios)
    print(f"Encrypt + decrypt of a 32-byte secret (median of {ROUNDS} rounds)")
    print(f"  raw AESGCM (baseline): {raw_median * 1e6:6.2f} µs/op  {1 / raw_median:>10,.0f} ops/s")
    print(
        f"  keyring:               {ring_median * 1e6:6.2f} µs/op  {1 / ring_median:>10,.0f} ops/s"
    )
    print(f"  peak memory over {OPS_PER_ROUND:,} keyring ops: {peak / 1024:.1f} KiB")
    verdict = "within" if ratio <= TARGET_RATIO else "ABOVE"
    print(f"  ratio keyring/raw: {ratio:.2f}x ({verdict} the {TARGET_RATIO:.0f}x target)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
