"""Migrations: the models and the migration files never drift apart."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from connections.models import Connection


@pytest.mark.django_db
def test_models_have_no_changes_missing_a_migration() -> None:
    output = StringIO()

    # --check exits non-zero (SystemExit) when a migration would be written.
    call_command("makemigrations", "--check", "--dry-run", stdout=output)

    assert "No changes detected" in output.getvalue()


@pytest.mark.django_db(transaction=True)
def test_quotes_of_okendo_kept_before_scrubbing_are_dropped() -> None:
    before = [("connections", "0005_key_check_value")]
    after = [("connections", "0006_forget_unscrubbed_okendo_words")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps.get_model("connections", "Connection")
    sentence = "Okendo recognised the request but refused access to reviews (HTTP 403)."
    leaked = old.objects.create(
        name="Leaked",
        api_type="merchant",
        last_test_message=f"{sentence} Okendo said: “… api key=NOTrealKEY012345678…”",
    )
    plain = old.objects.create(name="Plain", api_type="merchant", last_test_message=sentence)

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)
    call_command("migrate", verbosity=0)  # back to the latest, for the tests after this one

    messages = dict(Connection.objects.values_list("pk", "last_test_message"))
    assert messages == {leaked.pk: sentence, plain.pk: sentence}
