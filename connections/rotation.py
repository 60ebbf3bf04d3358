"""Key rotation: re-encrypt stored secrets under the current key, and count them by key.

Works on any model that follows the convention described in
:mod:`connections.keyring` (a ``uid`` UUID field, and ``<field>_encrypted`` /
``<field>_fingerprint`` per secret). Reads in keyset-paginated batches and
writes each value with a compare-and-set through the ORM, so a row edited
while the rotation runs is never overwritten.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import models, router, transaction
from django.views.decorators.debug import sensitive_variables

from connections.keyring import (
    AuthenticationFailed,
    Binding,
    DecryptionError,
    Keyring,
    WrongKeyMaterial,
    decrypt,
    encrypt,
    fingerprint,
    get_keyring,
    key_id_of,
)
from connections.models import KeyCheckValue

MALFORMED = "(malformed)"
MAX_REPORTED_FAILURES = 50


class KeyMaterialChanged(Exception):
    """A configured key's material differs from the check value stored for its id."""

    def __init__(self, key_ids: Sequence[str]) -> None:
        self.key_ids = list(key_ids)
        super().__init__(
            "Wrong key material for key id "
            + ", ".join(repr(key_id) for key_id in self.key_ids)
            + ": the configured key is not the one that encrypted under this id."
        )


@dataclass(frozen=True)
class RotationFailure:
    """A stored value that could not be decrypted: where it is and why, never what."""

    pk: Any
    field: str
    key_id: str | None
    message: str


@dataclass
class RotationReport:
    """What a key scan or a rotation found and did.

    ``by_key`` counts the stored values by the key id they named when read
    (``MALFORMED`` for values without a readable one). Only the first
    ``MAX_REPORTED_FAILURES`` failures are kept, so memory stays flat.
    """

    current_key_id: str
    rows: int = 0
    values: int = 0
    by_key: Counter[str] = field(default_factory=Counter)
    rotated: int = 0
    would_rotate: int = 0
    changed_since_read: int = 0
    failed: int = 0
    failures: list[RotationFailure] = field(default_factory=list)

    @property
    def under_current_key(self) -> int:
        return self.by_key[self.current_key_id]

    @property
    def under_other_keys(self) -> int:
        return self.values - self.under_current_key

    def add_failure(self, failure: RotationFailure) -> None:
        self.failed += 1
        if len(self.failures) < MAX_REPORTED_FAILURES:
            self.failures.append(failure)


def _batches(
    *, model: type[models.Model], columns: Sequence[str], batch_size: int, using: str
) -> Iterator[list[tuple[Any, ...]]]:
    """Yield ``(pk, uid, *columns)`` rows in pk order, ``batch_size`` at a time.

    Keyset pagination (``pk > last``) instead of OFFSET: each batch costs the
    same however far the scan has gone, and rows added or deleted meanwhile
    do not shift the window.
    """
    if batch_size < 1:
        raise ValueError("The batch size must be at least 1.")
    manager = model._default_manager.db_manager(using)
    last_pk: Any = None
    while True:
        queryset = manager.order_by("pk")
        if last_pk is not None:
            queryset = queryset.filter(pk__gt=last_pk)
        rows = list(queryset.values_list("pk", "uid", *columns)[:batch_size])
        if not rows:
            return
        yield rows
        last_pk = rows[-1][0]


def scan_key_usage(
    *,
    model: type[models.Model],
    fields: Sequence[str],
    batch_size: int = 1000,
    keyring: Keyring | None = None,
    decrypt_all: bool = False,
) -> RotationReport:
    """Count the stored values of ``fields`` by the key id they name.

    With ``decrypt_all``, also decrypt every value (under whichever configured
    key it names) and report each one that fails, as :func:`rotate` does.
    """
    ring = keyring or get_keyring()
    report = RotationReport(current_key_id=ring.current.key_id)
    columns = [f"{name}_encrypted" for name in fields]
    using = router.db_for_read(model)
    wrong = set(KeyCheckValue.mismatched_key_ids(ring, using=using)) if decrypt_all else set()
    for rows in _batches(model=model, columns=columns, batch_size=batch_size, using=using):
        report.rows += len(rows)
        for pk, uid, *stored_values in rows:
            for name, stored in zip(fields, stored_values, strict=True):
                if not stored:
                    continue
                report.values += 1
                report.by_key[key_id_of(stored) or MALFORMED] += 1
                if decrypt_all:
                    binding = Binding(model=model._meta.label, field=name, row=uid)
                    _try_decrypt(stored, binding, pk=pk, ring=ring, wrong=wrong, report=report)
    return report


@sensitive_variables()
def _try_decrypt(
    stored: str,
    binding: Binding,
    *,
    pk: Any,
    ring: Keyring,
    wrong: set[str],
    report: RotationReport,
) -> Any:
    """Decrypt ``stored`` and return the secret, or record why not and return ``None``."""
    try:
        return decrypt(stored, binding, keyring=ring).secret
    except DecryptionError as exc:
        error = exc
        if isinstance(exc, AuthenticationFailed) and exc.key_id in wrong:
            error = WrongKeyMaterial(exc.binding, exc.key_id)
        report.add_failure(
            RotationFailure(pk=pk, field=binding.field, key_id=error.key_id, message=str(error))
        )
        return None


def rotate(
    *,
    model: type[models.Model],
    fields: Sequence[str],
    batch_size: int = 500,
    dry_run: bool = False,
    keyring: Keyring | None = None,
    on_batch_read: Callable[[list[Any]], None] | None = None,
    on_batch_done: Callable[[RotationReport], None] | None = None,
) -> RotationReport:
    """Re-encrypt every stored value of ``fields`` that is not under the current key.

    Works in batches, each written in its own transaction, so an interrupted
    run keeps what it finished and the next run picks up the rest: values
    already under the current key are only read. Each write is a
    compare-and-set on the value that was read
    (``filter(pk=…, <field>_encrypted=old).update(…)``, one statement, so the
    database re-checks the condition under the row lock), and a row edited
    meanwhile is never overwritten; it is counted in ``changed_since_read``
    and retried by the next run. Values that cannot be decrypted are
    reported, not skipped silently. With ``dry_run`` nothing is written: the
    values are decrypted and counted. ``on_batch_read`` receives the primary
    keys of each batch after it is read and before anything is written.

    Raise :class:`KeyMaterialChanged`, before reading anything, when a
    configured key's material differs from the check value stored for its id:
    re-encrypting under the wrong material would make the data unreadable
    with the right one. The current key's check value is stored with the
    first write.
    """
    ring = keyring or get_keyring()
    report = RotationReport(current_key_id=ring.current.key_id)
    using = router.db_for_write(model)
    wrong = KeyCheckValue.mismatched_key_ids(ring, using=using)
    if wrong:
        raise KeyMaterialChanged(wrong)
    manager = model._default_manager.db_manager(using)
    columns = [f"{name}_encrypted" for name in fields]
    for rows in _batches(model=model, columns=columns, batch_size=batch_size, using=using):
        report.rows += len(rows)
        if on_batch_read is not None:
            on_batch_read([row[0] for row in rows])
        writes = _reencrypt_batch(
            rows=rows, label=model._meta.label, fields=fields, ring=ring, report=report
        )
        if dry_run:
            report.would_rotate += len(writes)
        elif writes:
            with transaction.atomic(using=using):
                KeyCheckValue.remember(ring.current, using=using)
                for write in writes:
                    applied = manager.filter(
                        pk=write.pk, **{f"{write.name}_encrypted": write.old}
                    ).update(
                        **{
                            f"{write.name}_encrypted": write.new,
                            f"{write.name}_fingerprint": write.fingerprint,
                        }
                    )
                    if applied:
                        report.rotated += 1
                    else:
                        report.changed_since_read += 1
        if on_batch_done is not None:
            on_batch_done(report)
    return report


@dataclass(frozen=True)
class _Write:
    """One compare-and-set: replace ``old`` in secret ``name`` of row ``pk`` with ``new``."""

    pk: Any
    name: str
    old: str
    new: str = field(repr=False)
    fingerprint: str = field(repr=False)


@sensitive_variables()
def _reencrypt_batch(
    *,
    rows: list[tuple[Any, ...]],
    label: str,
    fields: Sequence[str],
    ring: Keyring,
    report: RotationReport,
) -> list[_Write]:
    """Count a batch's values and return the writes that move them to the current key."""
    current = ring.current.key_id
    writes = []
    for pk, uid, *stored_values in rows:
        for name, stored in zip(fields, stored_values, strict=True):
            if not stored:
                continue
            report.values += 1
            key_id = key_id_of(stored)
            report.by_key[key_id or MALFORMED] += 1
            if key_id == current:
                continue
            binding = Binding(model=label, field=name, row=uid)
            # No key's check value differs (rotate() refused otherwise), so a
            # failure here is the value's own: unknown key, altered or copied.
            secret = _try_decrypt(stored, binding, pk=pk, ring=ring, wrong=set(), report=report)
            if secret is None:
                continue
            writes.append(
                _Write(
                    pk=pk,
                    name=name,
                    old=stored,
                    new=encrypt(secret, binding, keyring=ring),
                    fingerprint=fingerprint(secret, keyring=ring),
                )
            )
    return writes
