"""``manage.py export_reviews``: every review of a connection into a JSONL or CSV file.

The file appears under its final name only when the export is complete: pages
are written to ``FILE.part`` beside it, and after each page a checkpoint,
``FILE.checkpoint.json``, records the cursor of the next page, the counts and
the length of the part file (never a secret, never a review). ``--resume``
cuts the part file back to that length and continues from the cursor, so an
interrupted export yields every review exactly once. The complete file
replaces ``FILE`` with ``os.replace`` (atomic on one file system).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from argparse import ArgumentParser
from collections.abc import Generator
from pathlib import Path
from typing import IO, Any, cast

from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from connections import reads
from connections.models import Connection
from connections.okendo import (
    MERCHANT_ORDERS,
    REVIEW_STATUSES,
    STOREFRONT_ORDERS,
    InvalidRequest,
    ReviewQuery,
    ReviewScope,
)
from connections.reads import ExportFormat, ExportPage, ReadFailed

CHECKPOINT_VERSION = 1
# Without a terminal, one progress line at most this often (seconds).
PLAIN_PROGRESS_EVERY = 5.0
INTERRUPTED = 130  # the shell's code for a process stopped by Ctrl-C


class Command(BaseCommand):
    help = (
        "Export every review of a connection to a JSONL or CSV file, page by page within "
        "Okendo's rate limit. The file appears only when complete; --resume continues an "
        "interrupted export. Exits 1 with Okendo's outcome word when Okendo refuses."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("connection", metavar="CONNECTION_ID", help="connection id or UUID")
        parser.add_argument(
            "--format", required=True, choices=[f.value for f in ExportFormat], dest="fmt"
        )
        parser.add_argument("--output", required=True, type=Path, help="the file to write")
        parser.add_argument(
            "--status", choices=REVIEW_STATUSES, help="only reviews with this status (Merchant)"
        )
        parser.add_argument(
            "--order-by",
            choices=sorted({*MERCHANT_ORDERS, *STOREFRONT_ORDERS}),
            help="Okendo's orderBy (default: date desc)",
        )
        parser.add_argument(
            "--limit", help="reviews a page (Merchant 1-100, Storefront 1-25; default the most)"
        )
        parser.add_argument("--product", help="only this Shopify product's reviews (Storefront)")
        parser.add_argument("--group", help="only this group's reviews (Storefront)")
        parser.add_argument(
            "--resume",
            action="store_true",
            help="continue an interrupted export of the same file from its checkpoint",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        connection = _connection(options["connection"])
        fmt = ExportFormat(options["fmt"])
        try:
            scope = ReviewScope(product_id=options["product"], group_id=options["group"])
            limit = options["limit"] or (100 if connection.is_merchant else 25)
            query = ReviewQuery.from_params(
                {
                    "limit": str(limit),
                    **({"orderBy": options["order_by"]} if options["order_by"] else {}),
                    **({"status": options["status"]} if options["status"] else {}),
                },
                api_type=connection.api_type,
            )
        except InvalidRequest as exc:
            raise CommandError(exc.reason) from None
        output: Path = options["output"]
        if output.is_dir():
            raise CommandError(f"{output} is a directory; give the file to write.")
        if not output.parent.is_dir():
            raise CommandError(f"The folder {output.parent} does not exist.")
        part = output.with_name(output.name + ".part")
        checkpoint = output.with_name(output.name + ".checkpoint.json")
        plan = {
            "version": CHECKPOINT_VERSION,
            "connection": str(connection.uid),
            "format": fmt.value,
            **scope.details(),
            "query": query.details(),
        }
        state = self._resume_state(checkpoint, part, plan) if options["resume"] else None
        if options["resume"] and state is None:
            self.stderr.write("Nothing to resume: starting from the first page.")
        elif not options["resume"] and checkpoint.exists():
            self.stderr.write("Starting over; add --resume to continue the interrupted export.")
        try:
            pages = reads.review_export(
                connection=connection,
                actor=None,
                fmt=fmt,
                scope=scope,
                query=query,
                cursor=state["cursor"] if state else None,
            )
        except ReadFailed as exc:
            raise CommandError(f"{exc.outcome}: {exc.message}") from None
        except PermissionDenied as exc:  # pragma: no cover - the command runs as the operator
            raise CommandError(str(exc)) from None
        self._write(pages, part=part, checkpoint=checkpoint, output=output, plan=plan, state=state)

    def _resume_state(
        self, checkpoint: Path, part: Path, plan: dict[str, Any]
    ) -> dict[str, Any] | None:
        try:
            state = json.loads(checkpoint.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            raise CommandError(
                f"The checkpoint {checkpoint} cannot be read; delete it and {part.name} "
                "to start over."
            ) from None
        if not isinstance(state, dict) or {k: state.get(k) for k in plan} != plan:
            raise CommandError(
                f"The checkpoint {checkpoint} belongs to another export (connection, format, "
                "filters); run that export again, or delete the checkpoint to start over."
            )
        size = part.stat().st_size if part.exists() else -1
        written = state.get("bytes")
        if (
            not isinstance(written, int)
            or size < written
            or not isinstance(state.get("cursor"), str)
        ):
            raise CommandError(
                f"{part.name} does not hold what the checkpoint says was written; delete "
                f"{part.name} and {checkpoint.name} to start over."
            )
        return state

    def _write(
        self,
        pages: Generator[ExportPage, None, None],
        *,
        part: Path,
        checkpoint: Path,
        output: Path,
        plan: dict[str, Any],
        state: dict[str, Any] | None,
    ) -> None:
        records = state["records"] if state else 0
        page_count = state["pages"] if state else 0
        # The wrapped stream itself: OutputWrapper ends every write with a newline,
        # which would break a bar that redraws itself with "\r".
        progress = _Progress(cast(IO[str], self.stderr._out), records=records, pages=page_count)
        try:
            # Reviews name people: the file is readable by its owner only (0600), as
            # the export begins, whatever the umask.
            descriptor = os.open(part, os.O_RDWR | os.O_CREAT | (0 if state else os.O_TRUNC), 0o600)
            os.fchmod(descriptor, 0o600)
            with os.fdopen(descriptor, "r+b") as out:
                if state:
                    out.truncate(state["bytes"])  # drop a page written after the checkpoint
                    out.seek(state["bytes"])
                else:
                    out.write(reads.export_header(plan["format"]).encode())
                try:
                    for page in pages:
                        out.write(page.text.encode())
                        out.flush()
                        os.fsync(out.fileno())
                        records += page.records
                        page_count += 1
                        progress.update(page.records)
                        if page.next_cursor is not None:
                            _write_json(
                                checkpoint,
                                {
                                    **plan,
                                    "cursor": page.next_cursor,
                                    "records": records,
                                    "pages": page_count,
                                    "bytes": out.tell(),
                                },
                            )
                        del page  # written: not kept while the next page is fetched
                finally:
                    pages.close()
        except ReadFailed as exc:
            progress.close()
            raise CommandError(
                f"{exc.outcome}: {exc.message} {records:,} reviews are saved in {part.name}; "
                "run the same command with --resume to continue.",
            ) from None
        except OSError as exc:
            progress.close()
            raise CommandError(
                f"Could not write {part}: {exc.strerror or exc}. Nothing was written to {output}."
            ) from None
        except KeyboardInterrupt:
            progress.close()
            raise CommandError(
                f"Interrupted after {records:,} reviews; run the same command with --resume "
                "to continue.",
                returncode=INTERRUPTED,
            ) from None
        progress.close()
        os.replace(part, output)
        checkpoint.unlink(missing_ok=True)
        _fsync_directory(output.parent)
        self.stdout.write(
            f"Exported {records:,} reviews ({page_count} pages) to {output} "
            f"in {progress.elapsed():.1f} s."
        )


def _connection(value: str) -> Connection:
    queryset = Connection.objects.all()
    try:
        if value.isascii() and value.isdecimal():
            return queryset.get(pk=int(value))
        return queryset.get(uid=uuid.UUID(value))
    except (ValueError, OverflowError, Connection.DoesNotExist):
        raise CommandError(f"No connection with id {value!r}.") from None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file beside it, then ``os.replace``."""
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w", encoding="utf-8") as out:
        json.dump(data, out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


def _fsync_directory(directory: Path) -> None:
    # The rename itself must survive a crash too.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Progress:
    """Reviews, pages and rate: a bar on a terminal (tqdm), a plain line now and then otherwise."""

    def __init__(self, stream: IO[str], *, records: int, pages: int) -> None:
        self.stream = stream
        self.pages = pages
        self.records = records
        self.started = time.monotonic()
        self.last_line = self.started
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.bar: tqdm[Any] | None = None
        if self.tty:
            self.bar = tqdm(
                file=stream,
                initial=records,
                unit=" reviews",
                unit_scale=False,
                dynamic_ncols=True,
                postfix={"pages": pages},
                mininterval=0.2,
            )

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def update(self, records: int) -> None:
        self.records += records
        self.pages += 1
        if self.bar is not None:
            self.bar.set_postfix(pages=self.pages, refresh=False)
            self.bar.update(records)
            return
        now = time.monotonic()
        if now - self.last_line >= PLAIN_PROGRESS_EVERY:
            self.last_line = now
            self._line()

    def _line(self) -> None:
        rate = self.records / max(self.elapsed(), 1e-9)
        self.stream.write(f"{self.records:,} reviews, {self.pages} pages, {rate:.0f} reviews/s\n")
        self.stream.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        elif not self.tty:
            self._line()
