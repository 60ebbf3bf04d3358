from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("connections", "0011_normalize_names_nfc"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="connection",
            options={
                "ordering": ["name"],
                "permissions": [("read_data", "Can read Okendo data through a connection")],
            },
        ),
        migrations.AlterField(
            model_name="connectionevent",
            name="action",
            field=models.CharField(
                choices=[
                    ("created", "Created"),
                    ("updated", "Updated"),
                    ("deleted", "Deleted"),
                    ("tested", "Tested"),
                    ("exported", "Exported"),
                    ("read", "Read data"),
                ],
                max_length=10,
            ),
        ),
    ]
