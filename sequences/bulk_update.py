"""One UPDATE for many rows (PostgreSQL: UPDATE ... FROM (VALUES ...)).

Django's bulk_update writes a CASE WHEN per field and row; for a hundred contacts with a dozen fields that is
hundreds of milliseconds of query building per batch (bench/ingest.py showed it as the top cost of ingest).
Other databases (SQLite in the zero-setup run) use Django's bulk_update.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection
from django.db.models import Model


def update_rows(model: type[Model], objects: Sequence[Model], field_names: Sequence[str]) -> int:
    if not objects:
        return 0
    if connection.vendor != "postgresql":
        return model.objects.bulk_update(objects, field_names)
    meta = model._meta
    fields = [meta.get_field(name) for name in field_names]
    pk = meta.pk
    columns = [pk.column] + [field.column for field in fields]
    types = [pk.db_type(connection)] + [field.db_type(connection) for field in fields]
    params: list = []
    rows = []
    for obj in objects:
        values = [pk.get_db_prep_value(obj.pk, connection)] + [
            field.get_db_prep_save(getattr(obj, field.attname), connection) for field in fields
        ]
        params.extend(values)
        rows.append("(" + ", ".join(f"%s::{kind}" for kind in types) + ")")
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(column)} = v.{quote(column)}" for column in columns[1:])
    # Only identifiers from the model's own metadata are interpolated; every value is a parameter.
    sql = (
        f"UPDATE {quote(meta.db_table)} AS t SET {assignments} "  # noqa: S608
        f"FROM (VALUES {', '.join(rows)}) AS v({', '.join(quote(c) for c in columns)}) "
        f"WHERE t.{quote(pk.column)} = v.{quote(pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount
