"""Store every connection name in Unicode normal form C (NFC).

Names typed as "e" + U+0301 and as "é" look the same; from now on they are
normalised before they are checked and stored. This migration brings the names
saved before that into NFC.

A name whose NFC form would equal another connection's name, ignoring case (the
unique constraint's rule), is left as it is and reported, so the migration never
fails half-way and no data is lost: rename one of the two (the app stores the new
name in NFC) and nothing more is needed. The history keeps its names as
recorded; they are normalised too, having no uniqueness to break.
"""

import logging
import unicodedata

from django.db import migrations
from django.db.models import Value
from django.db.models.functions import Lower

logger = logging.getLogger("connections.migrations")


def _nfc(name):
    return unicodedata.normalize("NFC", name)


def normalize_names(apps, schema_editor):
    Connection = apps.get_model("connections", "Connection")
    ConnectionEvent = apps.get_model("connections", "ConnectionEvent")
    db = schema_editor.connection.alias
    connections = Connection.objects.using(db)
    rows = list(connections.order_by("pk").values_list("pk", "name"))
    to_rename = {pk: _nfc(name) for pk, name in rows if _nfc(name) != name}
    # What each name would become, ignoring case as the unique constraint does.
    final = {pk: to_rename.get(pk, name) for pk, name in rows}
    by_folded: dict[str, list[int]] = {}
    for pk, name in final.items():
        by_folded.setdefault(name.lower(), []).append(pk)
    collisions = []
    for pk, new_name in to_rename.items():
        others = [other for other in by_folded[new_name.lower()] if other != pk]
        # The database's LOWER() decides in the end (PostgreSQL's may fold beyond Python's).
        clash = others or connections.exclude(pk=pk).alias(lower_name=Lower("name")).filter(
            lower_name=Lower(Value(new_name))
        ).exists()
        if clash:
            collisions.append((pk, new_name, others))
            continue
        connections.filter(pk=pk).update(name=new_name)
    for pk, new_name, others in collisions:
        logger.warning(
            "Connection %s was not renamed to its NFC form %r: connection(s) %s have the same "
            "name. Rename one of them in the app or the admin.",
            pk,
            new_name,
            ", ".join(str(other) for other in others) or "(another)",
        )
    events = ConnectionEvent.objects.using(db)
    for pk, name in events.values_list("pk", "connection_name").iterator():
        if _nfc(name) != name:
            events.filter(pk=pk).update(connection_name=_nfc(name))


class Migration(migrations.Migration):
    dependencies = [
        ("connections", "0010_list_indexes"),
    ]

    operations = [
        # Nothing to undo: an NFC name is the same name to every reader.
        migrations.RunPython(normalize_names, migrations.RunPython.noop, elidable=True),
    ]
