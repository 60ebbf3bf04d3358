"""A change counter every process on this host shares through one small mapped file.

``connections.versions`` uses it to skip the database read of its tokens: a
writer adds one to the counter when it changes a token (and again once that
commits), and a worker that sees the same count as at its last read knows no
process on this host has changed a token since. Reading it is a memory load,
no system call.

Only a missed increase could make a worker serve stale memory, so every
failure here leads to more database reads, never fewer: a directory or file
that other users could tamper with is refused (and ``versions`` then reads the
database on every request), and processes that cannot share the file (another
host, another user, a cleaned-up ``/tmp``) are caught by ``versions``' periodic
re-read instead.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import mmap
import os
import stat
import struct
import tempfile
import threading
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

_FORMAT = struct.Struct("<Q")
# What tells one database from another, for processes sharing a counter.
_IDENTITY = ("ENGINE", "HOST", "PORT", "NAME")


class UnsafeLocation(OSError):
    """The counter's directory or file could be changed by someone other than this user."""


class HostCounter:
    """An unsigned 64-bit counter in a file mapped into this process's memory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_mode & 0o022:
                raise UnsafeLocation(f"{path} is not a regular file writable only by its owner")
            with _locked(fd):
                if os.fstat(fd).st_size < _FORMAT.size:
                    os.ftruncate(fd, _FORMAT.size)  # a new file: the count starts at zero
            self._map = mmap.mmap(fd, _FORMAT.size)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def value(self) -> int:
        return int(_FORMAT.unpack_from(self._map)[0])

    def increment(self) -> None:
        """Add one; the lock makes concurrent increments from several processes all count."""
        with _locked(self._fd):
            _FORMAT.pack_into(self._map, 0, (self.value() + 1) % 2**64)

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)


class _locked:
    def __init__(self, fd: int) -> None:
        self._fd = fd

    def __enter__(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc_info: Any) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)


def default_directory() -> Path:
    """``$TMPDIR/okendo-connections-<uid>``: private to the user the site runs as."""
    return Path(tempfile.gettempdir()) / f"okendo-connections-{os.getuid()}"


def private_directory(directory: Path) -> Path:
    """Create ``directory`` (mode 0700) if needed; refuse one other users could write into."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(directory)
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeLocation(f"{directory} is not a directory (a symbolic link is refused)")
    if info.st_uid not in (os.getuid(), 0) or info.st_mode & 0o002:
        raise UnsafeLocation(
            f"{directory} must belong to this user (or root) and not be writable by others"
        )
    return directory


def file_name(database: dict[str, Any]) -> str:
    """One file per database: processes using the same database share its counter."""
    identity = "\0".join(str(database.get(part) or "") for part in _IDENTITY)
    return hashlib.sha256(identity.encode()).hexdigest()[:24] + ".count"


_lock = threading.Lock()
# Looked up on every request: keyed by the plain settings, so a hit hashes nothing.
_open: dict[tuple[str, ...], HostCounter | None] = {}
_MISSING = object()


def for_database(directory: str, database: dict[str, Any]) -> HostCounter | None:
    """Return this process's counter for ``database``, or ``None`` when it cannot be shared safely.

    ``directory`` empty means :func:`default_directory`. A refusal is logged
    once per process and database; the caller then reads the database every
    time, which is always correct.
    """
    key = (directory, *(str(database.get(part) or "") for part in _IDENTITY))
    counter = _open.get(key, _MISSING)
    if counter is not _MISSING:
        return counter  # type: ignore[return-value]  # a HostCounter or None, as stored
    with _lock:
        if key not in _open:
            where = Path(directory) if directory else default_directory()
            try:
                _open[key] = HostCounter(private_directory(where) / file_name(database))
            except OSError as exc:
                logger.warning(
                    "Reading the version tokens from the database on every request: the "
                    "change counter in %s cannot be shared safely (%s).",
                    where,
                    exc.strerror or exc,
                )
                _open[key] = None
        return _open[key]


def close_all() -> None:
    """Forget every open counter; the next use opens (or refuses) it again."""
    for counter in _open.values():
        if counter is not None:
            counter.close()
    _open.clear()


def _after_fork_in_child() -> None:
    # A child shares the parent's open file description, and so its flock: two
    # processes incrementing at once could lose one. Reopen on first use instead.
    global _lock
    _lock = threading.Lock()
    close_all()


os.register_at_fork(after_in_child=_after_fork_in_child)
