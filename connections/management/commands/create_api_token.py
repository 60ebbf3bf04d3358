"""Create a personal API token for a user, for automation; print it once."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser

from connections.api.tokens import api_token_create


class Command(BaseCommand):
    help = (
        "Create an API token for USERNAME and print it once (stdout, nothing else). "
        "Only its hash is stored; it acts with that user's permissions."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--days",
            type=int,
            default=settings.CONNECTIONS_API_TOKEN_DAYS,
            help="Days until it expires (default: %(default)s).",
        )
        parser.add_argument("--name", default="", help="What uses it, as the token page shows.")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"]
        if not 1 <= days <= 3650:
            raise CommandError("--days must be between 1 and 3650.")
        try:
            user = User.objects.get(username=options["username"], is_active=True)
        except User.DoesNotExist:
            raise CommandError(f"No active user named {options['username']!r}.") from None
        token, text = api_token_create(user=user, name=options["name"], days=days)
        # Only the token on stdout, so scripts can capture it; the rest on stderr.
        self.stdout.write(text)
        self.stderr.write(
            f"Created token {token.token_key}… for {user.get_username()}, "
            f"expiring {token.expiry:%Y-%m-%d %H:%M} UTC. It is not shown again."
        )
