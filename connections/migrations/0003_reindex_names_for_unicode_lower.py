from django.db import migrations


def reindex_on_sqlite(apps, schema_editor):
    # Entries written before connections.sqlite replaced LOWER() were folded
    # with SQLite's ASCII-only LOWER(); rebuild them with the Unicode one. If two
    # stored names now collide, this fails loudly: rename one and migrate again.
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute('REINDEX "connection_name_unique_ci"')


class Migration(migrations.Migration):
    dependencies = [
        ("connections", "0002_list_version"),
    ]

    operations = [
        migrations.RunPython(reindex_on_sqlite, migrations.RunPython.noop, elidable=True),
    ]
