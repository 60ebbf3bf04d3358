"""Migrations: the models and the migration files never drift apart."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_models_have_no_changes_missing_a_migration() -> None:
    output = StringIO()

    # --check exits non-zero (SystemExit) when a migration would be written.
    call_command("makemigrations", "--check", "--dry-run", stdout=output)

    assert "No changes detected" in output.getvalue()
