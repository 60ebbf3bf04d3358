# The list's indexes (issue 11). The list filters by status, or by status and
# API type: one index on both answers either, and counting the matches reads
# the index alone; it replaces the index on status, its first column. The list
# sorts by last update with ties by id: one index on both gives that order
# without a sort; it replaces the index on updated_at alone.
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("connections", "0009_name_trigram_index"),
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
        migrations.AlterField(
            model_name="connection",
            name="updated_at",
            field=models.DateTimeField(default=django.utils.timezone.now, editable=False),
        ),
        migrations.AddIndex(
            model_name="connection",
            index=models.Index(fields=["updated_at", "id"], name="connection_updated_id"),
        ),
    ]
