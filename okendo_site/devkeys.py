"""Create and read the local development keys file.

``make run`` on a fresh machine needs a Django secret key and an encryption key
without asking the developer for any. They are generated once, stored in a
git-ignored file readable only by its owner, and reused on every later run:
regenerating the encryption key would make every stored secret unreadable.
"""

from __future__ import annotations

import base64
import os
import secrets
import sys
from pathlib import Path

HEADER = (
    "# Local development keys, created by `make run`. Never use them in production.\n"
    "# Deleting this file makes every secret stored in the local database unreadable.\n"
)


def generate() -> dict[str, str]:
    """Return a fresh random Django secret key and encryption key."""
    key = base64.b64encode(secrets.token_bytes(32)).decode("ascii")
    return {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "CONNECTIONS_ENCRYPTION_KEY": f"dev1:{key}",
    }


def parse(text: str) -> dict[str, str]:
    """Parse ``NAME=value`` lines, ignoring blanks and comments."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.partition("=")
        values[name.strip()] = value.strip()
    return values


def load_or_create(path: Path) -> dict[str, str]:
    """Return the keys stored at ``path``, creating the file (mode 0600) on first use."""
    try:
        return parse(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    values = generate()
    body = HEADER + "".join(f"{name}={value}\n" for name, value in values.items())
    try:
        # O_EXCL: two processes starting at once must not each write their own key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return parse(path.read_text(encoding="utf-8"))
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(body)
    sys.stderr.write(
        f"Created local development keys in {path} (readable only by you).\n"
        "They are reused on every run; keep the file as long as you keep the database.\n"
    )
    return values
