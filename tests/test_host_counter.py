"""This host's change counter: one file every process maps, refused where others could write."""

from __future__ import annotations

import fcntl
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from connections import hostcounter
from connections.hostcounter import HostCounter

ROOT = Path(__file__).resolve().parent.parent
DATABASE = {"ENGINE": "django.db.backends.postgresql", "HOST": "127.0.0.1", "PORT": 5432}
# Waits for a common start time, so the processes increment at the same moment.
INCREMENT = """
import sys, time
from pathlib import Path
from connections.hostcounter import HostCounter
counter = HostCounter(Path(sys.argv[1]))
time.sleep(max(0.0, float(sys.argv[3]) - time.time()))
for _ in range(int(sys.argv[2])):
    counter.increment()
"""


@pytest.fixture(autouse=True)
def _close_counters() -> object:
    yield
    hostcounter.close_all()


def test_a_new_counter_starts_at_zero_and_counts(tmp_path: Path) -> None:
    counter = HostCounter(tmp_path / "a.count")

    assert counter.value() == 0
    counter.increment()
    counter.increment()
    assert counter.value() == 2


def test_an_increment_shows_in_every_mapping_of_the_file(tmp_path: Path) -> None:
    writer = HostCounter(tmp_path / "a.count")
    reader = HostCounter(tmp_path / "a.count")

    writer.increment()

    assert reader.value() == 1


def test_increments_from_concurrent_processes_all_count(tmp_path: Path) -> None:
    path = tmp_path / "a.count"
    watcher = HostCounter(path)
    start_at = time.time() + 1.5  # after every interpreter has started
    processes = [
        subprocess.Popen([sys.executable, "-c", INCREMENT, str(path), "20000", str(start_at)])
        for _ in range(4)
    ]

    assert [process.wait(timeout=120) for process in processes] == [0, 0, 0, 0]
    assert watcher.value() == 80_000


def test_same_database_shares_a_file_and_another_database_does_not() -> None:
    name = hostcounter.file_name({**DATABASE, "NAME": "okendo"})

    assert hostcounter.file_name({**DATABASE, "NAME": "okendo"}) == name
    assert hostcounter.file_name({**DATABASE, "NAME": "okendo_test"}) != name
    assert hostcounter.file_name({**DATABASE, "NAME": "okendo", "PORT": 5433}) != name
    assert hostcounter.file_name({**DATABASE, "NAME": "okendo", "HOST": "db"}) != name


def test_default_directory_is_per_user_under_the_temporary_directory() -> None:
    directory = hostcounter.default_directory()

    assert directory.name == f"okendo-connections-{os.getuid()}"


def test_for_database_creates_a_private_directory_and_file(tmp_path: Path) -> None:
    directory = tmp_path / "run" / "okendo"

    counter = hostcounter.for_database(str(directory), DATABASE)

    assert counter is not None
    assert counter is hostcounter.for_database(str(directory), DATABASE)  # opened once
    assert directory.stat().st_mode & 0o777 == 0o700
    assert counter.path.parent == directory
    assert counter.path.stat().st_mode & 0o777 == 0o600


def test_a_forked_child_locks_its_own_file_description(tmp_path: Path) -> None:
    counter = hostcounter.for_database(str(tmp_path), DATABASE)
    assert counter is not None
    to_parent_r, to_parent_w = os.pipe()
    to_child_r, to_child_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, and leave without running anything of pytest's
        verdict = b"?"
        try:
            child = hostcounter.for_database(str(tmp_path), DATABASE)
            os.write(to_parent_w, b"open")
            os.read(to_child_r, 16)  # the parent now holds the lock
            fcntl.flock(fd_of(child), fcntl.LOCK_EX | fcntl.LOCK_NB)
            verdict = b"locked"  # the parent's lock did not stop it: a shared description
        except BlockingIOError:
            verdict = b"waits"  # its own description: the parent's lock holds it off
        finally:
            os.write(to_parent_w, verdict)
            os._exit(0)
    assert os.read(to_parent_r, 16) == b"open"
    with hostcounter._locked(fd_of(counter)):
        os.write(to_child_w, b"go")
        answer = os.read(to_parent_r, 16)
    os.waitpid(pid, 0)
    for fd in (to_parent_r, to_parent_w, to_child_r, to_child_w):
        os.close(fd)

    assert answer == b"waits"


def fd_of(counter: HostCounter | None) -> int:
    assert counter is not None
    return counter._fd


@pytest.mark.parametrize("mode", [0o777, 0o757])
def test_a_directory_others_can_write_is_refused_and_said(
    tmp_path: Path, mode: int, caplog: pytest.LogCaptureFixture
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(mode)

    with caplog.at_level(logging.WARNING, logger="connections.hostcounter"):
        assert hostcounter.for_database(str(shared), DATABASE) is None
        assert hostcounter.for_database(str(shared), DATABASE) is None

    refusals = [r for r in caplog.records if "on every request" in r.getMessage()]
    assert len(refusals) == 1  # once per process and database, not per request
    assert str(shared) in refusals[0].getMessage()
    assert not list(shared.iterdir())  # nothing written where others could tamper with it


def test_a_directory_of_another_user_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    if os.getuid() == 0:
        os.chown(theirs, 12345, -1)  # root may own it; another user may not
    else:
        monkeypatch.setattr(hostcounter.os, "getuid", lambda: os.geteuid() + 4242)

    assert hostcounter.for_database(str(theirs), DATABASE) is None


def test_a_symbolic_link_for_the_directory_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(real)

    assert hostcounter.for_database(str(link), DATABASE) is None


def test_a_symbolic_link_for_the_file_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "run"
    directory.mkdir(mode=0o700)
    elsewhere = tmp_path / "elsewhere.count"
    elsewhere.write_bytes(b"\0" * 8)
    (directory / hostcounter.file_name(DATABASE)).symlink_to(elsewhere)

    assert hostcounter.for_database(str(directory), DATABASE) is None


def test_a_file_others_can_write_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "run"
    directory.mkdir(mode=0o700)
    planted = directory / hostcounter.file_name(DATABASE)
    planted.write_bytes(b"\0" * 8)
    planted.chmod(0o666)

    assert hostcounter.for_database(str(directory), DATABASE) is None
