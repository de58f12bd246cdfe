"""The dashboard's last-24-hours count gets an index on received_at; the (name, occurred_at) index no query used goes.

On PostgreSQL the new index is built CONCURRENTLY: a plain CREATE INDEX would hold up every insert into a large
events table (the tracking API) for as long as the build takes. Other databases (SQLite in the zero-setup run)
get an ordinary index.
"""

from django.db import migrations, models

RECEIVED_INDEX = models.Index(fields=["received_at"], name="event_received_idx")


def add_received_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS event_received_idx ON sequences_event (received_at)"
        )
    else:
        schema_editor.add_index(apps.get_model("sequences", "Event"), RECEIVED_INDEX)


def remove_received_index(apps, schema_editor):
    schema_editor.remove_index(apps.get_model("sequences", "Event"), RECEIVED_INDEX)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("sequences", "0008_experiments"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="event",
            name="event_name_time_idx",
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="event", index=RECEIVED_INDEX)],
            database_operations=[migrations.RunPython(add_received_index, remove_received_index)],
        ),
    ]
