import uuid

from django.db import migrations, models


def create_the_row(apps, schema_editor):
    # A real token at once: every later change to sessions, users, groups and
    # permissions goes through the ORM, whose signals change it.
    apps.get_model("connections", "AuthVersion").objects.create(pk=1, token=uuid.uuid4().hex)


class Migration(migrations.Migration):
    dependencies = [
        ("connections", "0003_reindex_names_for_unicode_lower"),
    ]

    operations = [
        migrations.CreateModel(
            name="AuthVersion",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("token", models.CharField(blank=True, max_length=32)),
            ],
        ),
        migrations.RunPython(create_the_row, migrations.RunPython.noop),
    ]
