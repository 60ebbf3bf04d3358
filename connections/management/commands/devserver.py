"""``manage.py devserver``: Django's runserver, ending with where to go and how to sign in first.

``make run`` uses it. The server itself is runserver as installed (static files
left to WhiteNoise, as ``whitenoise.runserver_nostatic`` sets up); only its
start-up banner gets two more lines.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import DatabaseError
from whitenoise.runserver_nostatic.management.commands.runserver import (
    Command as RunserverCommand,
)

CREATE_FIRST_USER = "make user"


class Command(RunserverCommand):
    help = (
        "Start the development server; print its address and, while no user exists, "
        "the command that creates the first one."
    )

    def on_bind(self, server_port: int) -> None:
        """Print Django's banner, then the address to open and, with no user yet, how to add one."""
        super().on_bind(server_port)
        host = "0.0.0.0" if self.addr == "0" else self.addr  # noqa: S104 - as runserver says it
        if self._raw_ipv6:
            host = f"[{self.addr}]"
        self.stdout.write(
            self.style.SUCCESS(f"Okendo connections: {self.protocol}://{host}:{server_port}/")
        )
        if not self._any_user():
            self.stdout.write(
                f"No user yet. Create the first one in another terminal: {CREATE_FIRST_USER}"
            )

    def _any_user(self) -> bool:
        try:
            return get_user_model()._default_manager.exists()
        except DatabaseError:
            return True  # no tables yet: migrate first; say nothing misleading
