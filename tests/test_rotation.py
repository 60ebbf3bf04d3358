"""Key rotation (``rotation.rotate`` and ``manage.py rotate_encryption_keys``): batched,
resumable, compare-and-set, loud on failure."""

from __future__ import annotations

import base64
import functools
import io
import uuid

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from connections import keyring, rotation
from connections.keyring import Binding, Key, Keyring
from connections.models import SECRET_FIELDS, Connection, KeyCheckValue
from tests.factories import fake_key
from tests.factories import key_spec as spec

pytestmark = pytest.mark.django_db

LABEL = Connection._meta.label


OLD = fake_key("old1")
NEW = fake_key("new2")
GONE = fake_key("gone9")
ROTATING = {
    "CONNECTIONS_ENCRYPTION_KEY": spec(NEW),
    "CONNECTIONS_ENCRYPTION_KEY_FALLBACKS": [spec(OLD)],
}


def secret_for(n: int) -> str:
    return f"sk_test_NOT_A_REAL_KEY_{n:010d}"


def make_rows(count: int, *, key: Key, start: int = 0) -> list[Connection]:
    """Bulk-create connections whose secrets are encrypted under ``key``.

    Every third row is a Storefront connection (password); the others are
    Merchant (API key). Secret n is ``secret_for(n)``.
    """
    ring = Keyring(current=key)
    rows = []
    for n in range(start, start + count):
        uid = uuid.uuid4()
        field = "password" if n % 3 == 0 else "api_key"
        row = Connection(
            uid=uid,
            name=f"Connection {n:06d}",
            api_type="storefront" if field == "password" else "merchant",
        )
        setattr(
            row,
            f"{field}_encrypted",
            keyring.encrypt(secret_for(n), Binding(LABEL, field, uid), keyring=ring),
        )
        setattr(row, f"{field}_fingerprint", keyring.fingerprint(secret_for(n), keyring=ring))
        rows.append(row)
    return Connection.objects.bulk_create(rows, batch_size=500)


def field_of(row: Connection) -> str:
    return "password" if row.api_type == "storefront" else "api_key"


def stored_values() -> dict[int, tuple[str, str]]:
    return {
        pk: (api_key, password)
        for pk, api_key, password in Connection.objects.values_list(
            "pk", "api_key_encrypted", "password_encrypted"
        )
    }


def key_ids() -> dict[str, int]:
    counts: dict[str, int] = {}
    for api_key, password in stored_values().values():
        for stored in (api_key, password):
            if stored:
                key_id = keyring.key_id_of(stored) or "?"
                counts[key_id] = counts.get(key_id, 0) + 1
    return counts


def run(*args: str) -> tuple[str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command("rotate_encryption_keys", *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def run_failing(*args: str) -> tuple[CommandError, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("rotate_encryption_keys", *args, stdout=stdout, stderr=stderr)
    return excinfo.value, stdout.getvalue(), stderr.getvalue()


def assert_no_secret_material(text: str) -> None:
    for stored_pair in stored_values().values():
        for stored in stored_pair:
            if stored:
                assert stored.rsplit(":", 1)[1][:24] not in text
    assert "sk_test_" not in text
    for key in (OLD, NEW, GONE):
        assert base64.b64encode(key.material).decode() not in text


def test_rotation_reencrypts_every_old_value_in_batches():
    old_rows = make_rows(2_500, key=OLD)
    current_rows = make_rows(200, key=NEW, start=10_000)
    untouched = {row.pk: getattr(row, f"{field_of(row)}_encrypted") for row in current_rows}
    batches: list[int] = []

    with override_settings(**ROTATING):
        report = rotation.rotate(
            model=Connection,
            fields=SECRET_FIELDS,
            batch_size=300,
            on_batch_read=lambda pks: batches.append(len(pks)),
        )
        new_ring = keyring.get_keyring()
        new_fingerprints = {
            row.pk: keyring.fingerprint(secret_for(n), keyring=new_ring)
            for n, row in enumerate(old_rows)
        }

    assert batches == [300] * 9
    assert report.rows == 2_700
    assert report.rotated == 2_500
    assert report.changed_since_read == report.failed == 0
    assert key_ids() == {"new2": 2_700}
    # Readable with the new key alone, each value in its own row and field.
    only_new = Keyring(current=NEW)
    reloaded = Connection.objects.in_bulk([row.pk for row in old_rows])
    for n, row in enumerate(reloaded[row.pk] for row in old_rows):
        field = field_of(row)
        binding = Binding(LABEL, field, row.uid)
        stored = getattr(row, f"{field}_encrypted")
        assert keyring.decrypt(stored, binding, keyring=only_new).secret.reveal() == secret_for(n)
        assert getattr(row, f"{field}_fingerprint") == new_fingerprints[row.pk]
    for pk, stored in untouched.items():
        assert stored in stored_values()[pk]


def test_command_reports_counts_in_plain_text():
    make_rows(40, key=OLD)
    make_rows(10, key=NEW, start=100)

    with override_settings(**ROTATING):
        stdout, stderr = run("--batch-size", "7")

    assert "Current key: new2. Fallback keys: old1." in stdout
    assert "Read 50 connections: 50 stored secrets, 10 already under new2." in stdout
    assert "Re-encrypted 40." in stdout
    assert stderr == ""
    assert_no_secret_material(stdout)


def test_second_run_changes_nothing():
    make_rows(300, key=OLD)
    with override_settings(**ROTATING):
        run()
        before = stored_values()

        stdout, _ = run()

    assert "Re-encrypted 0." in stdout
    assert stored_values() == before


def test_interrupted_rotation_keeps_finished_batches_and_resumes():
    make_rows(1_000, key=OLD)
    seen: list[int] = []

    def interrupt_on_third_batch(pks):
        seen.append(len(pks))
        if len(seen) == 3:
            raise KeyboardInterrupt  # what an operator's Ctrl-C looks like mid-run

    with override_settings(**ROTATING):
        with pytest.raises(KeyboardInterrupt):
            rotation.rotate(
                model=Connection,
                fields=SECRET_FIELDS,
                batch_size=150,
                on_batch_read=interrupt_on_third_batch,
            )
        assert key_ids() == {"new2": 300, "old1": 700}

        stdout, _ = run("--batch-size", "150")

    assert "Read 1,000 connections: 1,000 stored secrets, 300 already under new2." in stdout
    assert "Re-encrypted 700." in stdout
    assert key_ids() == {"new2": 1_000}


def test_row_edited_between_read_and_write_is_not_overwritten():
    rows = make_rows(600, key=OLD)
    edited_now, edited_by_old_server = rows[10], rows[20]
    new_secret = "sk_test_NOT_A_REAL_KEY_EDITED_NOW"

    def edit_rows_meanwhile(pks):
        if edited_now.pk not in pks:
            return
        # Someone saves a new key through the app (under the current key)...
        connection = Connection.objects.get(pk=edited_now.pk)
        connection.set_api_key(new_secret)
        connection.save()
        # ...and a server still on the old configuration re-saves another row.
        field = field_of(edited_by_old_server)
        Connection.objects.filter(pk=edited_by_old_server.pk).update(
            **{
                f"{field}_encrypted": keyring.encrypt(
                    "sk_test_NOT_A_REAL_KEY_OLD_SERVER",
                    Binding(LABEL, field, edited_by_old_server.uid),
                    keyring=Keyring(current=OLD),
                )
            }
        )

    with override_settings(**ROTATING):
        report = rotation.rotate(
            model=Connection,
            fields=SECRET_FIELDS,
            batch_size=100,
            on_batch_read=edit_rows_meanwhile,
        )
        assert report.changed_since_read == 2
        assert report.rotated == 598
        assert Connection.objects.get(pk=edited_now.pk).get_api_key().reveal() == new_secret
        assert key_ids() == {"new2": 599, "old1": 1}

        stdout, _ = run()  # the next run picks up the row still under the old key

        assert "Re-encrypted 1." in stdout
        assert key_ids() == {"new2": 600}
        assert Connection.objects.get(pk=edited_now.pk).get_api_key().reveal() == new_secret
        reread = Connection.objects.get(pk=edited_by_old_server.pk)
        getter = reread.get_password if field_of(reread) == "password" else reread.get_api_key
        assert getter().reveal() == "sk_test_NOT_A_REAL_KEY_OLD_SERVER"


def test_command_reports_rows_skipped_because_they_changed(monkeypatch):
    rows = make_rows(30, key=OLD)
    target = rows[4]  # a Merchant row

    def edit_meanwhile(pks):
        if target.pk in pks:
            connection = Connection.objects.get(pk=target.pk)
            connection.set_api_key("sk_test_NOT_A_REAL_KEY_EDITED_NOW")
            connection.save()

    # The command's own rotation, with the test's hook between read and write.
    monkeypatch.setattr(
        rotation, "rotate", functools.partial(rotation.rotate, on_batch_read=edit_meanwhile)
    )
    with override_settings(**ROTATING):
        stdout, stderr = run("--batch-size", "10")

    assert "Re-encrypted 29." in stdout
    assert "Skipped 1 changed since they were read (edited meanwhile); run again" in stdout
    assert stderr == ""


def test_check_fails_while_old_values_remain_and_passes_after_rotation():
    make_rows(120, key=OLD)
    make_rows(30, key=NEW, start=500)

    with override_settings(**ROTATING):
        error, stdout, _ = run_failing("--check")
        assert error.returncode == 1
        assert "120 stored secrets still under another key (old1: 120)" in str(error)
        assert (
            "Checked 150 connections: 150 stored secrets, 30 under the current key new2." in stdout
        )

        run()
        stdout, _ = run("--check")

    assert "OK: no stored secret uses an old key" in stdout
    assert key_ids() == {"new2": 150}


def test_check_counts_unknown_and_malformed_values_as_not_current():
    make_rows(3, key=NEW)
    make_rows(2, key=GONE, start=10)
    broken = make_rows(1, key=NEW, start=20)[0]
    Connection.objects.filter(pk=broken.pk).update(password_encrypted="not-encrypted-at-all")

    with override_settings(**ROTATING):
        error, _, _ = run_failing("--check")

    assert "3 stored secrets still under another key ((malformed): 1; gone9: 2)" in str(error)


def test_check_writes_nothing():
    make_rows(50, key=OLD)
    before = stored_values()

    with override_settings(**ROTATING):
        run_failing("--check")

    assert stored_values() == before


def test_dry_run_counts_and_writes_nothing():
    make_rows(90, key=OLD)
    make_rows(10, key=NEW, start=200)
    make_rows(4, key=GONE, start=300)
    before = stored_values()

    with override_settings(**ROTATING):
        error, stdout, stderr = run_failing("--dry-run", "--batch-size", "25")

    assert "Dry run, nothing written: 90 would be re-encrypted (gone9: 4; old1: 90)." in stdout
    assert "Could not decrypt 4 stored secrets:" in stderr
    assert error.returncode == 1
    assert stored_values() == before


def test_dry_run_of_a_clean_database_succeeds():
    make_rows(20, key=NEW)

    with override_settings(**ROTATING):
        stdout, stderr = run("--dry-run")

    assert "Dry run, nothing written: 0 would be re-encrypted." in stdout
    assert stderr == ""


def test_undecryptable_rows_are_reported_and_fail_the_run():
    rows = make_rows(60, key=OLD)
    unknown = make_rows(1, key=GONE, start=100)[0]
    copied_from, copied_to = rows[1], rows[2]  # both Merchant rows (n % 3 != 0)
    Connection.objects.filter(pk=copied_to.pk).update(
        api_key_encrypted=copied_from.api_key_encrypted
    )

    with override_settings(**ROTATING):
        error, stdout, stderr = run_failing()

    assert error.returncode == 1
    assert "Re-encrypted 59." in stdout
    assert "Could not decrypt 2 stored secrets:" in stderr
    unknown_line = next(line for line in stderr.splitlines() if str(unknown.uid) in line)
    assert f"connection id {unknown.pk}:" in unknown_line
    assert f"connections.Connection.{field_of(unknown)}" in unknown_line
    assert "key id 'gone9'" in unknown_line
    assert "not configured" in unknown_line
    copied_line = next(line for line in stderr.splitlines() if str(copied_to.uid) in line)
    assert "key id 'old1'" in copied_line
    assert "authentication failed" in copied_line
    assert "CONNECTIONS_ENCRYPTION_KEY_FALLBACKS" in str(error)
    assert_no_secret_material(stdout + stderr + str(error))
    # Nothing was silently replaced: the unreadable values are still there.
    unknown.refresh_from_db()
    assert keyring.key_id_of(getattr(unknown, f"{field_of(unknown)}_encrypted")) == "gone9"


def test_failure_list_is_capped_but_counted():
    make_rows(rotation.MAX_REPORTED_FAILURES + 5, key=GONE)

    with override_settings(**ROTATING):
        _, _, stderr = run_failing()

    assert f"Could not decrypt {rotation.MAX_REPORTED_FAILURES + 5} stored secrets:" in stderr
    assert stderr.count("connection id ") == rotation.MAX_REPORTED_FAILURES
    assert "… and 5 more." in stderr


def test_check_and_dry_run_cannot_be_combined():
    with pytest.raises(CommandError, match="not allowed with argument"):
        call_command("rotate_encryption_keys", "--check", "--dry-run", stdout=io.StringIO())


@pytest.mark.parametrize("size", ["0", "-3", "many"])
def test_batch_size_must_be_a_positive_number(size):
    with pytest.raises(CommandError, match="batch-size"):
        call_command("rotate_encryption_keys", "--batch-size", size, stdout=io.StringIO())


def test_missing_current_key_stops_the_command_cleanly():
    with (
        override_settings(CONNECTIONS_ENCRYPTION_KEY=""),
        pytest.raises(CommandError, match="CONNECTIONS_ENCRYPTION_KEY is not set"),
    ):
        call_command("rotate_encryption_keys", "--check", stdout=io.StringIO(), skip_checks=True)


def test_rotation_of_empty_table_is_a_no_op():
    with override_settings(**ROTATING):
        stdout, _ = run("--check")

    assert "Checked 0 connections: 0 stored secrets" in stdout


# --- Key check values ----------------------------------------------------------------------

# NEW's id with other material: what an operator gets by generating a key and keeping the id.
NEW_ID_OTHER_MATERIAL = Key(key_id="new2", material=b"new2-but-other-material-32-bytes")
REPLACED_MATERIAL = {
    "CONNECTIONS_ENCRYPTION_KEY": spec(NEW_ID_OTHER_MATERIAL),
    "CONNECTIONS_ENCRYPTION_KEY_FALLBACKS": [spec(OLD)],
}


def test_saving_a_secret_stores_the_key_check_value_once():
    assert KeyCheckValue.objects.count() == 0
    with override_settings(**ROTATING):
        connection = Connection(name="First", api_type="merchant")
        connection.set_api_key("sk_test_NOT_A_REAL_KEY_0000000001")
        connection.save()
        connection.set_api_key("sk_test_NOT_A_REAL_KEY_0000000002")
        connection.save()

    [stored] = KeyCheckValue.objects.all()
    assert (stored.key_id, stored.check_value) == ("new2", NEW.check_value)
    # Saved again under other material, the first value stays: it is what the data needs.
    with override_settings(**REPLACED_MATERIAL):
        other = Connection(name="Second", api_type="merchant")
        other.set_api_key("sk_test_NOT_A_REAL_KEY_0000000003")
        other.save()
    assert KeyCheckValue.objects.get().check_value == NEW.check_value


def test_rotation_stores_the_current_key_check_value_with_its_first_write():
    make_rows(5, key=OLD)

    with override_settings(**ROTATING):
        dry = rotation.rotate(model=Connection, fields=SECRET_FIELDS, dry_run=True)
        assert dry.would_rotate == 5
        assert not KeyCheckValue.objects.exists()
        run()

    assert dict(KeyCheckValue.objects.values_list("key_id", "check_value")) == {
        "new2": NEW.check_value
    }


def test_same_key_id_with_new_material_fails_check_dry_run_and_rotation():
    # Issue 12's case: the id stays, the 32 bytes are new. Before, --check said
    # "OK", --dry-run and the run exited 0, and every value looked tampered with.
    make_rows(20, key=NEW)
    make_rows(5, key=OLD, start=100)
    KeyCheckValue.remember(NEW)
    KeyCheckValue.remember(OLD)
    before = stored_values()

    with override_settings(**REPLACED_MATERIAL):
        check_error, check_out, check_err = run_failing("--check")
        dry_error, dry_out, _ = run_failing("--dry-run")
        run_error, run_out, _ = run_failing()

    assert "Key check values: new2 WRONG MATERIAL; old1 matches." in check_out
    for error in (check_error, dry_error, run_error):
        assert error.returncode == 1
        assert "Wrong key material for key id new2" in str(error)
    assert "Could not decrypt 20 stored secrets:" in check_err
    assert check_err.count("wrong key material for key id 'new2'") == 20
    assert "authentication failed" not in check_err
    assert "altered" not in check_err
    assert "Nothing was rotated." in str(run_error)
    assert "Re-encrypted" not in run_out + dry_out
    assert stored_values() == before
    assert_no_secret_material(check_out + check_err + str(check_error))
    assert NEW_ID_OTHER_MATERIAL.check_value not in check_out + check_err + str(check_error)


def test_wrong_material_under_a_fallback_id_is_named_too():
    make_rows(3, key=OLD)
    KeyCheckValue.remember(OLD)
    wrong_old = Key(key_id="old1", material=b"old1-but-other-material-32-bytes")

    with override_settings(
        CONNECTIONS_ENCRYPTION_KEY=spec(NEW), CONNECTIONS_ENCRYPTION_KEY_FALLBACKS=[spec(wrong_old)]
    ):
        error, stdout, _ = run_failing("--dry-run")
        with pytest.raises(rotation.KeyMaterialChanged, match="'old1'"):
            rotation.rotate(model=Connection, fields=SECRET_FIELDS)

    assert "Key check values: new2 not recorded yet; old1 WRONG MATERIAL." in stdout
    assert "Wrong key material for key id old1" in str(error)


def test_check_fails_when_a_value_under_the_current_key_does_not_decrypt():
    rows = make_rows(4, key=NEW)
    KeyCheckValue.remember(NEW)
    copied_from, copied_to = rows[1], rows[2]  # both Merchant rows
    Connection.objects.filter(pk=copied_to.pk).update(
        api_key_encrypted=copied_from.api_key_encrypted
    )

    with override_settings(**ROTATING):
        error, stdout, stderr = run_failing("--check")

    assert "Key check values: new2 matches; old1 not recorded yet." in stdout
    assert "Checked 4 connections: 4 stored secrets, 4 under the current key new2." in stdout
    assert "1 stored secret cannot be decrypted" in str(error)
    assert "still under another key" not in str(error)
    [line] = [line for line in stderr.splitlines() if str(copied_to.uid) in line]
    assert "authentication failed" in line  # the key matches, so the value was moved


def test_check_passes_with_matching_check_values():
    make_rows(6, key=NEW)
    KeyCheckValue.remember(NEW)

    with override_settings(**ROTATING):
        stdout, stderr = run("--check")

    assert "Key check values: new2 matches; old1 not recorded yet." in stdout
    assert "OK: no stored secret uses an old key, and every one decrypts" in stdout
    assert stderr == ""
