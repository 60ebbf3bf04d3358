"""``manage.py test_connections``: test saved connections for cron health checks."""

from __future__ import annotations

import uuid
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from connections import services
from connections.models import Connection
from connections.ratelimit import ConnectionTestInProgress

# Shown instead of an outcome word when another test of the connection was running.
BUSY = "busy"
# The largest id a BigAutoField holds.
MAX_ID = 2**63 - 1


class Command(BaseCommand):
    help = (
        "Test saved connections against Okendo (within Okendo's rate limit), update their "
        "status, print name, outcome and milliseconds, and exit 1 if any is not ok."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--all", action="store_true", help="test every connection")
        which.add_argument(
            "--offline", action="store_true", help="test the connections marked offline"
        )
        which.add_argument(
            "ids", nargs="*", default=[], metavar="ID", help="connection ids or UUIDs to test"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        connections = self._select(
            all_=options["all"], offline=options["offline"], ids=options["ids"]
        )
        if not connections:
            self.stdout.write("No connections to test.")
            return
        width = max(len("Name"), *(len(c.name) for c in connections))
        self.stdout.write(f"{'Name':<{width}}  {'Outcome':<13}  {'ms':>6}")
        failed = 0
        for connection in connections:
            try:
                result = services.connection_test(connection=connection, actor=None)
            except ConnectionTestInProgress:
                failed += 1
                self.stdout.write(f"{connection.name:<{width}}  {BUSY:<13}  {'-':>6}")
                continue
            if not result.ok:
                failed += 1
            self.stdout.write(
                f"{connection.name:<{width}}  {result.outcome:<13}  {result.elapsed_ms:>6}"
            )
            if options["verbosity"] >= 2:
                self.stdout.write(f"{'':<{width}}  {result.message}")
        if failed:
            raise CommandError(
                f"{failed} of {len(connections)} connections are not ok.", returncode=1
            )
        self.stdout.write(f"All {len(connections)} connections are ok.")

    def _select(self, *, all_: bool, offline: bool, ids: list[str]) -> list[Connection]:
        queryset = Connection.objects.order_by("name")
        if all_:
            return list(queryset)
        if offline:
            return list(queryset.filter(status=Connection.Status.OFFLINE))
        pks: set[int] = set()
        uids: set[uuid.UUID] = set()
        for value in ids:
            if value.isdecimal():  # isdigit() also takes "²", which int() refuses
                pks.add(int(value))
                continue
            try:
                uids.add(uuid.UUID(value))
            except ValueError:
                raise CommandError(f"{value!r} is neither a connection id nor a UUID.") from None
        # No row has an id beyond a bigint, and SQLite cannot even bind such a number.
        searchable = {pk for pk in pks if pk <= MAX_ID}
        found = list(queryset.filter(Q(pk__in=searchable) | Q(uid__in=uids)))
        missing = {str(pk) for pk in pks - {c.pk for c in found}}
        missing |= {str(uid) for uid in uids - {c.uid for c in found}}
        if missing:
            listed = ", ".join(sorted(str(m) for m in missing))
            raise CommandError(f"No connection with id {listed}.")
        return found
