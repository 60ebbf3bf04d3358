# Search at 100,000 connections: on PostgreSQL a trigram GIN index answers the
# list's name search. Django compiles ``name__icontains`` on PostgreSQL to
# ``UPPER("name"::text) LIKE UPPER(%s)``, so the index is on UPPER(name): an
# index on the bare column would never be used. SQLite has no GIN and scans,
# which is fine at its sizes, so both steps do nothing there. The index is kept
# out of the model's state on purpose: SQLite rebuilds tables from that state.
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations
from django.db.models.functions import Upper

NAME_TRIGRAM_INDEX = GinIndex(
    OpClass(Upper("name"), name="gin_trgm_ops"), name="connection_name_upper_trgm"
)


class TrigramExtensionOnPostgreSQL(TrigramExtension):
    """``TrigramExtension``, whose backwards step also does nothing outside PostgreSQL.

    Django's ``CreateExtension`` skips other databases going forwards but, going
    backwards, asks ``pg_extension`` whatever the database.
    """

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.add_index(apps.get_model("connections", "Connection"), NAME_TRIGRAM_INDEX)


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.remove_index(apps.get_model("connections", "Connection"), NAME_TRIGRAM_INDEX)


class Migration(migrations.Migration):
    dependencies = [
        ("connections", "0008_drop_version_tables"),
    ]

    operations = [
        # CREATE EXTENSION pg_trgm: trusted, so the database's owner may create it.
        TrigramExtensionOnPostgreSQL(),
        migrations.RunPython(create_index, drop_index),
    ]
