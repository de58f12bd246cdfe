import django.db.models.deletion
from django.db import migrations, models

# Django would drop and re-add the contact foreign key here, validating it over every stored event under a lock
# that holds up ingest. Only the two single-column indexes and the source constraint go, by name (Django's
# names are derived from the table and column, so they are the same on every installation).
DROP_SQL = [
    'DROP INDEX IF EXISTS "sequences_event_contact_id_ac51b0e4"',
    'DROP INDEX IF EXISTS "sequences_event_source_id_a855c43f"',
]
POSTGRESQL_ONLY_SQL = [
    'ALTER TABLE "sequences_event" DROP CONSTRAINT IF EXISTS "sequences_event_source_id_a855c43f_fk_sequences_writekey_id"',
]


def drop_indexes_and_source_constraint(apps, schema_editor):
    for statement in DROP_SQL:
        schema_editor.execute(statement)
    if schema_editor.connection.vendor == "postgresql":  # SQLite (the demo) cannot drop a constraint in place
        for statement in POSTGRESQL_ONLY_SQL:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("sequences", "0010_tracking_queue"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="event",
                    name="contact",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="events",
                        to="sequences.contact",
                    ),
                ),
                migrations.AlterField(
                    model_name="event",
                    name="source",
                    field=models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="events",
                        to="sequences.writekey",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop_indexes_and_source_constraint, migrations.RunPython.noop)],
        ),
    ]
