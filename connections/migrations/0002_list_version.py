from django.db import migrations, models


def create_the_row(apps, schema_editor):
    # An empty token: rows already stored came without a bump, so nothing is cached
    # until the first write through the services gives the list a real version.
    apps.get_model("connections", "ListVersion").objects.create(pk=1, token="")


class Migration(migrations.Migration):
    dependencies = [
        ("connections", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="ListVersion",
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
