"""A trigram index for contact search (sequences/contact_search.py), on PostgreSQL.

Without it every keystroke of the contacts page's live search reads the whole contacts table. pg_trgm is a
trusted extension (PostgreSQL 13 and later): a database owner may create it. Where it cannot be created, the
migration says so and leaves search as it was (correct, only slower). Built CONCURRENTLY, so ingest, which
updates contacts all the time, is not held up; each statement gives up after 10 s rather than queue behind a
long query. bench/ingest.py shows no cost on ingest: 18,491 and 18,743 events/s with it, 18,311 and 18,201
without (docs/performance.md).
"""

import sys

from django.db import DatabaseError, migrations

INDEX = "contact_search_trgm_idx"
# contact_search.SEARCH_TEXT_SQL as it was when this was written; tests/sequences/test_contacts_api.py checks
# that search still uses the index, so the two cannot drift apart unnoticed.
SEARCH_TEXT_SQL = (
    'UPPER(COALESCE("sequences_contact"."email", \'\') || \' \' || COALESCE("sequences_contact"."user_id", \'\')'
    ' || \' \' || "sequences_contact"."first_name" || \' \' || "sequences_contact"."last_name")'
)


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return  # SQLite (the zero-setup demo) searches by reading the table
    try:
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError as error:
        sys.stderr.write(f"\n  Contact search stays unindexed: pg_trgm could not be created ({error}).\n")
        return
    schema_editor.execute("SET lock_timeout = '10s'")
    # A concurrent build that failed (the lock timeout, say) leaves an invalid index behind, which IF NOT EXISTS
    # would then keep for good: never used, still written on every contact update. Start again instead.
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)", [f'"{INDEX}"'])
        broken = cursor.fetchone()
    if broken and broken[0]:
        schema_editor.execute(f'DROP INDEX {_concurrently(schema_editor)}IF EXISTS "{INDEX}"')
    schema_editor.execute(
        f'CREATE INDEX {_concurrently(schema_editor)}IF NOT EXISTS "{INDEX}" ON "sequences_contact"'
        f" USING gin ({SEARCH_TEXT_SQL} gin_trgm_ops)"
    )
    schema_editor.execute("RESET lock_timeout")


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f'DROP INDEX {_concurrently(schema_editor)}IF EXISTS "{INDEX}"')


def _concurrently(schema_editor) -> str:
    # Not inside a transaction (a test migrating back and forth runs in one): there it cannot be concurrent.
    return "" if schema_editor.connection.in_atomic_block else "CONCURRENTLY "


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("sequences", "0013_default_lifecycle_stages")]

    operations = [migrations.RunPython(create_index, drop_index)]
