# The per-worker caches these one-row tables versioned are gone (issue 11):
# sessions, users and the list are read from the database on every request.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("connections", "0007_api_token_info"),
    ]

    operations = [
        migrations.DeleteModel(name="AuthVersion"),
        migrations.DeleteModel(name="ListVersion"),
    ]
