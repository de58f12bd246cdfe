import django.db.models.deletion
from django.db import migrations, models

# Django would drop and re-add the contact foreign key here, validating it over every stored event under a lock
# that holds up ingest. Only the two single-column indexes and the source constraint go, by name (Django's
# names are derived from the table and column, so they are the same on every installation). On PostgreSQL the
# indexes are dropped CONCURRENTLY (hence a non-atomic migration), and each statement gives up after 10 s
# rather than queue behind a long query while blocking ingest: run the migration again if it does.
INDEXES = {
    "sequences_event_contact_id_ac51b0e4": "contact_id",
    "sequences_event_source_id_a855c43f": "source_id",
}
SOURCE_CONSTRAINT = "sequences_event_source_id_a855c43f_fk_sequences_writekey_id"


def drop_indexes_and_source_constraint(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":  # SQLite (the demo) cannot drop a constraint in place
        for name in INDEXES:
            schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')
        return
    schema_editor.execute("SET lock_timeout = '10s'")
    for name in INDEXES:
        schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')
    schema_editor.execute(f'ALTER TABLE "sequences_event" DROP CONSTRAINT IF EXISTS "{SOURCE_CONSTRAINT}"')
    schema_editor.execute("RESET lock_timeout")


def restore_indexes_and_source_constraint(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    for name, column in INDEXES.items():
        schema_editor.execute(f'CREATE INDEX {concurrently}IF NOT EXISTS "{name}" ON "sequences_event" ("{column}")')
    if schema_editor.connection.vendor == "postgresql":
        # NOT VALID: write keys are never deleted, so the stored events need no re-check under a lock.
        schema_editor.execute(
            f'ALTER TABLE "sequences_event" ADD CONSTRAINT "{SOURCE_CONSTRAINT}" FOREIGN KEY ("source_id")'
            ' REFERENCES "sequences_writekey" ("id") DEFERRABLE INITIALLY DEFERRED NOT VALID'
        )


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY cannot run in a transaction

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
            database_operations=[
                migrations.RunPython(drop_indexes_and_source_constraint, restore_indexes_and_source_constraint)
            ],
        ),
    ]
