"""Make SQLite's LOWER() agree with PostgreSQL's for names outside ASCII.

Connection names are unique ignoring case through ``Lower("name")`` (the
unique constraint and the form's check). SQLite's built-in LOWER() folds only
A-Z, so on the embedded default "Été" and "ÉTÉ" could both be saved while
PostgreSQL refuses the second. Every SQLite connection the site opens gets a
Unicode-aware LOWER() instead, so both databases enforce the same rule.
"""

from __future__ import annotations

from typing import Any


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def install_unicode_lower(*, sender: Any, connection: Any, **kwargs: Any) -> None:
    """Replace LOWER() on a newly opened SQLite connection (a ``connection_created`` receiver)."""
    if connection.vendor == "sqlite":
        # Deterministic: SQLite only uses such functions in index expressions.
        connection.connection.create_function("LOWER", 1, _lower, deterministic=True)
