"""Re-encrypt stored secrets under the current key; ``--check`` / ``--dry-run`` only read."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from connections import keyring, rotation
from connections.models import SECRET_FIELDS, Connection, KeyCheckValue


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def _wrong_material_sentence(key_ids: list[str]) -> str:
    named = ", ".join(key_ids)
    return (
        f"Wrong key material for key id {named}: the key configured under this id is not the "
        "one that encrypted the stored secrets (its key check value differs). Restore the "
        "original key for this id; a new key needs a new id. See docs/encryption-keys.md."
    )


class Command(BaseCommand):
    help = (
        "Re-encrypt every connection secret that is not under CONNECTIONS_ENCRYPTION_KEY, "
        "reading old values with CONNECTIONS_ENCRYPTION_KEY_FALLBACKS. Safe to interrupt "
        "and to run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--check",
            action="store_true",
            help=(
                "Write nothing; exit 0 only when every configured key matches its stored check "
                "value and every stored secret decrypts and uses the current key."
            ),
        )
        mode.add_argument(
            "--dry-run",
            action="store_true",
            help="Write nothing; count the secrets that would be re-encrypted or cannot be read.",
        )
        parser.add_argument(
            "--batch-size",
            type=_positive_int,
            default=500,
            help="Rows read and written per transaction (default 500).",
        )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.epilog = (
            "Exit status: 0 done (or, with --check, nothing left under an old key); "
            "1 a configured key whose material differs from its key check value (nothing "
            "is rotated then), secrets that could not be decrypted, or with --check secrets "
            "still under an old key."
        )
        return parser

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            ring = keyring.get_keyring()
        except keyring.KeySpecError as exc:
            raise CommandError(f"{exc} Generate a key with: {keyring.KEY_SPEC_EXAMPLE}") from None
        fallbacks = ", ".join(key.key_id for key in ring.fallbacks) or "none"
        self.stdout.write(f"Current key: {ring.current.key_id}. Fallback keys: {fallbacks}.")
        wrong = self._key_check_values(ring)
        if options["check"]:
            self._check(ring, batch_size=options["batch_size"], wrong=wrong)
            return
        if wrong:
            raise CommandError(
                _wrong_material_sentence(wrong) + " Nothing was rotated.", returncode=1
            )
        try:
            self._rotate(
                ring,
                batch_size=options["batch_size"],
                dry_run=options["dry_run"],
                verbose=options["verbosity"] >= 2,
            )
        except rotation.KeyMaterialChanged as exc:  # changed since the check above
            raise CommandError(
                _wrong_material_sentence(exc.key_ids) + " Nothing was rotated.", returncode=1
            ) from None

    def _key_check_values(self, ring: keyring.Keyring) -> list[str]:
        """Print how each configured key compares with its key check value; return the wrong."""
        wrong = KeyCheckValue.mismatched_key_ids(ring)
        recorded = set(KeyCheckValue.objects.values_list("key_id", flat=True))
        states = []
        for key in (ring.current, *ring.fallbacks):
            if key.key_id in wrong:
                states.append(f"{key.key_id} WRONG MATERIAL")
            elif key.key_id in recorded:
                states.append(f"{key.key_id} matches")
            else:
                states.append(f"{key.key_id} not recorded yet")
        self.stdout.write(f"Key check values: {'; '.join(states)}.")
        return wrong

    def _by_key(self, report: rotation.RotationReport) -> str:
        parts = [
            f"{key_id}: {count:,}"
            for key_id, count in sorted(report.by_key.items())
            if key_id != report.current_key_id
        ]
        return "; ".join(parts)

    def _check(self, ring: keyring.Keyring, *, batch_size: int, wrong: list[str]) -> None:
        report = rotation.scan_key_usage(
            model=Connection,
            fields=SECRET_FIELDS,
            batch_size=batch_size,
            keyring=ring,
            decrypt_all=True,
        )
        self.stdout.write(
            f"Checked {_count(report.rows, 'connection')}: {_count(report.values, 'stored secret')}"
            f", {report.under_current_key:,} under the current key {report.current_key_id}."
        )
        self._report_failures(report)
        problems = []
        if wrong:
            problems.append(_wrong_material_sentence(wrong))
        if report.under_other_keys:
            problems.append(
                f"{_count(report.under_other_keys, 'stored secret')} still under another key "
                f"({self._by_key(report)}). Run rotate_encryption_keys, then --check again; "
                "keep every key listed here configured until then."
            )
        if report.failed:
            problems.append(
                f"{_count(report.failed, 'stored secret')} cannot be decrypted (listed above)."
            )
        if problems:
            raise CommandError(" ".join(problems), returncode=1)
        self.stdout.write(
            self.style.SUCCESS(
                "OK: no stored secret uses an old key, and every one decrypts; "
                "old keys can leave the configuration."
            )
        )

    def _report_failures(self, report: rotation.RotationReport) -> None:
        if not report.failed:
            return
        self.stderr.write(f"Could not decrypt {_count(report.failed, 'stored secret')}:")
        for failure in report.failures:
            self.stderr.write(f"  connection id {failure.pk}: {failure.message}")
        hidden = report.failed - len(report.failures)
        if hidden:
            self.stderr.write(f"  … and {hidden:,} more.")

    def _rotate(
        self, ring: keyring.Keyring, *, batch_size: int, dry_run: bool, verbose: bool
    ) -> None:
        def progress(report: rotation.RotationReport) -> None:
            if verbose:
                self.stdout.write(
                    f"  {report.rows:,} rows read, {report.rotated:,} re-encrypted, "
                    f"{report.failed:,} failed"
                )

        report = rotation.rotate(
            model=Connection,
            fields=SECRET_FIELDS,
            batch_size=batch_size,
            dry_run=dry_run,
            keyring=ring,
            on_batch_done=progress,
        )
        self.stdout.write(
            f"Read {_count(report.rows, 'connection')}: {_count(report.values, 'stored secret')}"
            f", {report.under_current_key:,} already under {report.current_key_id}."
        )
        if dry_run:
            self.stdout.write(
                f"Dry run, nothing written: {report.would_rotate:,} would be re-encrypted"
                + (f" ({self._by_key(report)})." if report.under_other_keys else ".")
            )
        else:
            self.stdout.write(f"Re-encrypted {report.rotated:,}.")
            if report.changed_since_read:
                self.stdout.write(
                    f"Skipped {report.changed_since_read:,} changed since they were read "
                    "(edited meanwhile); run again to pick them up."
                )
        if report.failed:
            self._report_failures(report)
            raise CommandError(
                "Some secrets could not be decrypted. For an unknown key id, add that key to "
                "CONNECTIONS_ENCRYPTION_KEY_FALLBACKS and run again; for a value that fails "
                "authentication, the value was altered: re-enter that connection's secret.",
                returncode=1,
            )
