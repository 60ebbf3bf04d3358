"""Drop Okendo's quoted words from test results stored before they were scrubbed.

Before issue 12, a description that echoed a secret could be kept cut short,
with part of the secret in it. The secret cannot be told apart from other text
here (migrations do not read the encryption keys), so the quote goes, and the
app's own sentence stays. The next test stores a scrubbed quote again.
"""

from django.db import migrations

QUOTE = " Okendo said: “"


def forget_quotes(apps, schema_editor):
    Connection = apps.get_model("connections", "Connection")
    rows = Connection.objects.filter(last_test_message__contains=QUOTE).only("last_test_message")
    changed = []
    for row in rows.iterator(chunk_size=500):
        row.last_test_message = row.last_test_message.split(QUOTE, 1)[0]
        changed.append(row)
    Connection.objects.bulk_update(changed, ["last_test_message"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("connections", "0005_key_check_value"),
    ]

    operations = [
        migrations.RunPython(forget_quotes, migrations.RunPython.noop, elidable=True),
    ]
