"""Many rows in one statement whose text never changes (PostgreSQL): one array parameter per column, or COPY.

Django's bulk_create and bulk_update write one placeholder per value, so every batch size is a new statement:
psycopg re-parses it in Python, PostgreSQL re-plans it, and each value goes through the field's
`get_db_prep_save`. With a column per array (sent in binary) the statement is the same for every batch, psycopg
converts its text once (it caches by text), and values are converted column by column (PostgreSQL still
parses and plans it each time: Django leaves psycopg's preparing off, and turning it on was dropped, see
docs/performance.md); COPY is cheaper still for rows
that cannot conflict. bench/ingest_cpu.py measured each step (docs/performance.md). Other databases (SQLite in
the zero-setup run) use Django's own bulk methods.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import msgspec
from django.db import connection, models

_json = msgspec.json.Encoder()


def _json_text(value: Any) -> str | None:
    return None if value is None else _json.encode(value).decode()


def _optional(kind: type) -> Callable[[Any], Any]:
    return lambda value: None if value is None else kind(value)


@cache
def _column(field: models.Field) -> tuple[str, str, Callable[[Any], Any] | None]:
    """(column, array type, value converter or None) of a concrete field."""
    kind = field.get_internal_type()
    if kind == "JSONField":
        return field.column, "jsonb", _json_text
    if kind == "FloatField":
        return field.column, "double precision", _optional(float)
    # The element type without its length: a cast to varchar(n) would cut a longer value silently, where the
    # column itself refuses it (as the ORM would).
    return field.column, field.db_type(connection).split("(", 1)[0], None


def _arrays(objects: Sequence, fields: Sequence[models.Field], read: Callable[[Any, str], Any]) -> list[list]:
    arrays = []
    for field in fields:
        values = [read(obj, field.attname) for obj in objects]
        convert = _column(field)[2]
        arrays.append([convert(value) for value in values] if convert else values)
    return arrays


def _unnest(fields: Sequence[models.Field]) -> tuple[str, str]:
    """The FROM item `unnest(%s::t1[], ...)` and its column list."""
    quote = connection.ops.quote_name
    columns = [_column(field) for field in fields]
    arrays = ", ".join(f"%b::{kind}[]" for _, kind, _ in columns)
    return f"unnest({arrays})", ", ".join(quote(column) for column, _, _ in columns)


def update_rows(model: type[models.Model], objects: Sequence[models.Model], field_names: Sequence[str]) -> int:
    """Write `field_names` of `objects` (saved instances) in one UPDATE."""
    if not objects:
        return 0
    if connection.vendor != "postgresql":
        return model.objects.bulk_update(objects, field_names)
    meta = model._meta
    fields = [meta.pk, *(meta.get_field(name) for name in field_names)]
    source, columns = _unnest(fields)
    quote = connection.ops.quote_name
    pk = quote(meta.pk.column)
    assignments = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in fields[1:])
    # Only identifiers from the model's own metadata are interpolated; every value is a parameter.
    sql = f"UPDATE {quote(meta.db_table)} AS t SET {assignments} FROM {source} AS v({columns}) WHERE t.{pk} = v.{pk}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, _arrays(objects, fields, getattr))
        return cursor.rowcount


def insert_rows(
    model: type[models.Model],
    rows: Sequence[dict] | Sequence[models.Model],
    field_names: Sequence[str],
    *,
    ignore_conflicts: bool = False,
    returning: str | None = None,
) -> list:
    """Insert `rows` (dicts by attname, or unsaved instances) in one INSERT; the `returning` column's values.

    With `returning`, the values come back in the order of `rows` (rows skipped by a conflict are left out).
    """
    if not rows:
        return []
    meta = model._meta
    fields = [meta.get_field(name) for name in field_names]
    read = dict.get if isinstance(rows[0], dict) else getattr
    if connection.vendor != "postgresql":
        instances = rows if read is getattr else [model(**row) for row in rows]
        model.objects.bulk_create(instances, ignore_conflicts=ignore_conflicts)
        return [getattr(obj, returning) for obj in instances] if returning and not ignore_conflicts else []
    source, columns = _unnest(fields)
    quote = connection.ops.quote_name
    sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) SELECT * FROM {source}"  # noqa: S608
    if ignore_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    if returning:
        sql += f" RETURNING {quote(meta.get_field(returning).column)}"
    with connection.cursor() as cursor:
        cursor.execute(sql, _arrays(rows, fields, read))
        return [row[0] for row in cursor.fetchall()] if returning else []


def copy_rows(
    model: type[models.Model],
    rows: Sequence[tuple] | Sequence[dict] | Sequence[models.Model],
    field_names: Sequence[str],
) -> None:
    """Insert `rows` (tuples of values in `field_names` order, dicts by attname, or unsaved instances) with COPY,
    the cheapest way in. For rows that cannot conflict: a unique violation fails the whole statement (ingest
    retries its batch on IntegrityError)."""
    if not rows:
        return
    meta = model._meta
    fields = [meta.get_field(name) for name in field_names]
    if not isinstance(rows[0], tuple):
        read = dict.get if isinstance(rows[0], dict) else getattr
        if connection.vendor != "postgresql":
            model.objects.bulk_create(rows if read is getattr else [model(**row) for row in rows])
            return
        attnames = [field.attname for field in fields]
        rows = [tuple(read(row, name) for name in attnames) for row in rows]
    elif connection.vendor != "postgresql":
        model.objects.bulk_create([model(**dict(zip(field_names, row, strict=True))) for row in rows])
        return
    quote = connection.ops.quote_name
    # Only the columns that need it (JSON) are converted, value by value (ingest's events: timeit, 7be1bf6).
    conversions = [(i, convert) for i, field in enumerate(fields) if (convert := _column(field)[2]) is not None]
    columns = ", ".join(quote(field.column) for field in fields)
    # psycopg's copy() is not behind Django's error translation: a unique violation must still arrive as
    # Django's IntegrityError, which ingest retries on.
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.copy(f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN") as copy,
    ):
        for row in rows:
            values = list(row)
            for i, convert in conversions:
                values[i] = convert(values[i])
            copy.write_row(values)
