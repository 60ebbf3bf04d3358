# The list filters by status, or by status and API type (issue 11): one index on
# both answers either, and counting the matches reads the index alone. It
# replaces the index on status by itself, which is its first column.
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("connections", "0006_name_trigram_index"),
    ]

    operations = [
        migrations.AlterField(
            model_name="connection",
            name="status",
            field=models.CharField(
                choices=[("untested", "Untested"), ("online", "Online"), ("offline", "Offline")],
                default="untested",
                max_length=10,
            ),
        ),
        migrations.AddIndex(
            model_name="connection",
            index=models.Index(fields=["status", "api_type"], name="connection_status_type"),
        ),
    ]
