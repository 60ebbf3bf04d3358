"""After connections are created, their plaintext secrets appear nowhere in the database.

Two scans: the raw bytes of a real SQLite database file written by a separate
process (pages, free space and journal included), and every column of every
table read back through SQL on whichever backend the suite runs against
(SQLite or PostgreSQL). Each scan also finds things that *should* be there
(names, the ``enc1:`` values), so a scan that reads nothing cannot pass.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db import connection

from connections.models import Connection

ROOT = Path(__file__).resolve().parent.parent
USER_ID = "00000000-0000-0000-0000-000000000000"


def fake_secrets(count: int) -> list[str]:
    # Obviously fake, but each with a random middle so that no other data
    # in the database can contain it by accident.
    return [f"sk_test_NOT_A_REAL_KEY_{secrets.token_hex(8)}" for _ in range(count)]


def spellings(secret: str) -> list[bytes]:
    """Return encodings under which a careless write could have stored ``secret``."""
    raw = secret.encode()
    unique = secret.rsplit("_", 1)[1].encode()
    return [
        raw,
        unique,
        secret.encode("utf-16-le"),
        base64.b64encode(raw),
        base64.urlsafe_b64encode(raw).rstrip(b"="),
        raw.hex().encode(),
        unique.hex().encode(),
    ]


CREATE_CONNECTIONS = """
import json, sys
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth.models import User
from connections.models import Connection

plan = json.load(sys.stdin)
alice = User.objects.create(username="alice")
for n, (api_type, first, second) in enumerate(plan):
    connection = Connection(name=f"Scan connection {n}", api_type=api_type)
    if api_type == "merchant":
        connection.user_id = "00000000-0000-0000-0000-000000000000"
        connection.set_api_key(first, by=alice)
    else:
        connection.username = "00000000-0000-0000-0000-000000000000"
        connection.set_password(first, by=alice)
    connection.save()
    # An edit re-enters the secret: the second value replaces the first.
    reread = Connection.objects.get(pk=connection.pk)
    if api_type == "merchant":
        assert reread.get_api_key().reveal() == first
        reread.set_api_key(second, by=alice)
    else:
        assert reread.get_password().reveal() == first
        reread.set_password(second, by=alice)
    reread.save()
print(Connection.objects.count())
"""


def test_sqlite_file_holds_no_plaintext_secret(tmp_path):
    database = tmp_path / "scan.sqlite3"
    plan = []
    for n, (first, second) in enumerate(zip(fake_secrets(12), fake_secrets(12), strict=True)):
        plan.append(("merchant" if n % 2 else "storefront", first, second))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "okendo_site.settings",
        "DATABASE_URL": f"sqlite:///{database}",
    }

    result = subprocess.run(
        [sys.executable, "-c", CREATE_CONNECTIONS],
        input=json.dumps(plan),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "12"
    files = sorted(tmp_path.glob("scan.sqlite3*"))  # the database and any journal left behind
    content = b"".join(path.read_bytes() for path in files)
    # Controls: the scan sees the rows, their names and their encrypted values.
    assert b"Scan connection 11" in content
    assert content.count(b"enc1:test1:") >= 12
    for _, first, second in plan:
        for secret in (first, second):
            for spelling in spellings(secret):
                assert spelling not in content, f"{spelling[:12]!r}… found in {database.name}"
    for output in (result.stdout, result.stderr):
        assert "sk_test_NOT_A_REAL_KEY_" not in output


def _every_text_value() -> list[str]:
    """Read every column of every table and return the values as text."""
    values: list[str] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, memoryview | bytes | bytearray):
                        data = bytes(value)
                        values.extend([data.decode("latin-1"), data.hex()])
                    elif value is not None:
                        values.append(
                            value if isinstance(value, str) else json.dumps(value, default=str)
                        )
    return values


@pytest.mark.django_db
def test_no_table_holds_a_plaintext_secret():
    alice = User.objects.create(username="alice")
    api_keys, passwords = fake_secrets(5), fake_secrets(5)
    for n, (api_key, password) in enumerate(zip(api_keys, passwords, strict=True)):
        merchant = Connection(name=f"Merchant {n}", api_type="merchant", user_id=USER_ID)
        merchant.set_api_key(api_key, by=alice)
        merchant.save()
        store = Connection(name=f"Store {n}", api_type="storefront", username=USER_ID)
        store.set_password(password, by=alice)
        store.save()
        assert Connection.objects.get(pk=merchant.pk).get_api_key().reveal() == api_key

    everything = "\n".join(_every_text_value())

    assert "Merchant 4" in everything
    assert "Store 4" in everything
    assert everything.count("enc1:test1:") == 10
    for secret in api_keys + passwords:
        for spelling in spellings(secret):
            assert spelling.decode("latin-1") not in everything
