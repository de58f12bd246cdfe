"""What ingest reads for a batch, each in one round trip with a statement text that never changes (PostgreSQL).

The ORM builds and compiles a query per call and runs every row through a model constructor and converters; on
the ingest path that was a third of the CPU of a batch (bench/ingest_cpu.py). These reads pass arrays as
parameters, so each statement's text never changes (psycopg converts it once), and build model instances directly. Other
databases (SQLite in the zero-setup run) use the ORM.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache

import msgspec
from django.db import connection, models
from django.db.models.base import ModelState

from sequences.models import (
    Account,
    AnonymousId,
    Contact,
    Event,
    LifecycleStage,
    SessionSummary,
    TriggerSettings,
    WriteKey,
)

_decode_json = msgspec.json.decode


def _cursor():
    """A cursor whose timestamps are read by psycopg's C loader: Django's (a Python subclass that re-attaches the
    time zone) costs 1.6 µs a value against 0.4, and a batch reads hundreds. Both give aware UTC datetimes."""
    cursor = connection.cursor()
    oid, loader = _timestamptz_loader()
    cursor.cursor.adapters.register_loader(oid, loader)
    return cursor


@cache
def _timestamptz_loader() -> tuple[int, type]:
    import psycopg  # PostgreSQL only: imported on first use

    oid = psycopg.postgres.types["timestamptz"].oid
    return oid, psycopg.adapters.get_loader(oid, psycopg.pq.Format.TEXT)


@cache
def _select_list(
    model: type[models.Model], alias: str, deferred: tuple[str, ...] = ()
) -> tuple[str, tuple[str, ...], tuple[int, ...]]:
    """The model's concrete columns but `deferred` as `alias.col, ...`, their attnames, and which hold JSON. A
    deferred field is loaded by Django if it is ever read, as with QuerySet.defer()."""
    fields = [field for field in model._meta.concrete_fields if field.name not in deferred]
    quote = connection.ops.quote_name
    columns = ", ".join(f"{alias}.{quote(field.column)}" for field in fields)
    json_positions = tuple(i for i, field in enumerate(fields) if field.get_internal_type() == "JSONField")
    return columns, tuple(field.attname for field in fields), json_positions


def _instance(model: type[models.Model], attnames: tuple[str, ...], json_positions: tuple[int, ...], row):
    values = list(row)
    for i in json_positions:
        if isinstance(values[i], (str, bytes)):  # Django's psycopg setup hands jsonb over undecoded
            values[i] = _decode_json(values[i])
    # What Model.from_db does, without the per-field constructor: none of these models has init signals.
    instance = model.__new__(model)
    instance.__dict__.update(zip(attnames, values, strict=True))
    instance._state = ModelState()
    instance._state.adding, instance._state.db = False, connection.alias
    return instance


def known_message_ids(keys: list[tuple[int, str]]) -> set[tuple[int, str]]:
    """Which of these (write key id, messageId) pairs are already stored (Segment's retries repeat them)."""
    if connection.vendor != "postgresql":
        by_source: dict[int, list[str]] = {}
        for source_id, message_id in keys:
            by_source.setdefault(source_id, []).append(message_id)
        return {
            (source_id, message_id)
            for source_id, message_ids in by_source.items()
            for message_id in Event.objects.filter(source_id=source_id, message_id__in=message_ids).values_list(
                "message_id", flat=True
            )
        }
    with _cursor() as cursor:
        cursor.execute(
            "SELECT e.source_id, e.message_id FROM unnest(%b::bigint[], %b::varchar[]) AS k (source_id, message_id)"
            " JOIN sequences_event e ON e.source_id = k.source_id AND e.message_id = k.message_id",
            [[source_id for source_id, _ in keys], [message_id for _, message_id in keys]],
        )
        return {(row[0], row[1]) for row in cursor.fetchall()}


@dataclass(frozen=True, slots=True)
class KnownContacts:
    by_user: dict[str, Contact]
    by_anonymous: dict[str, Contact]


def contacts_by_identity(user_ids: Collection[str], anonymous_ids: Collection[str]) -> KnownContacts:
    """The stored contacts with these user ids or anonymous ids; one instance per contact, locked until the end of
    the transaction (PostgreSQL). The advisory locks on identities do not cover one person reached by different
    identities (a server sending only userId, a browser only anonymousId): the row locks do, in id order, and
    the second batch reads the row as the first one left it."""
    if connection.vendor != "postgresql":
        by_user = {c.user_id: c for c in Contact.objects.filter(user_id__in=list(user_ids))}
        by_pk = {c.pk: c for c in by_user.values()}
        by_anonymous = {}
        for alias in AnonymousId.objects.filter(value__in=list(anonymous_ids)).select_related("contact"):
            by_anonymous[alias.value] = by_pk.setdefault(alias.contact.pk, alias.contact)
        return KnownContacts(by_user, by_anonymous)
    # The facts behind the last score are only ever replaced on ingest (read only if two contacts merge).
    columns, attnames, json_positions = _select_list(Contact, "c", deferred=("intent_facts",))
    # Each contact once, with the anonymous ids it was found by (NULL: found by its user id).
    sql = (
        "WITH found AS (SELECT id AS contact_id, NULL::varchar AS alias FROM sequences_contact"  # noqa: S608
        " WHERE user_id = ANY(%b::varchar[]) UNION ALL SELECT contact_id, value FROM sequences_anonymousid"
        " WHERE value = ANY(%b::varchar[])) "
        f"SELECT f.aliases, {columns} FROM (SELECT contact_id, array_agg(alias) AS aliases FROM found"
        " GROUP BY contact_id) f JOIN sequences_contact c ON c.id = f.contact_id ORDER BY c.id FOR UPDATE OF c"
    )
    with _cursor() as cursor:
        cursor.execute(sql, [list(user_ids), list(anonymous_ids)])
        rows = cursor.fetchall()
    by_user, by_anonymous = {}, {}
    for row in rows:
        contact = _instance(Contact, attnames, json_positions, row[1:])
        for alias in row[0]:
            if alias is None:
                by_user[contact.user_id] = contact
            else:
                by_anonymous[alias] = contact
    return KnownContacts(by_user, by_anonymous)


def session_summaries(contact_ids: list[int], session_ids: list[str]) -> dict[tuple[int, str], SessionSummary]:
    """The stored summaries of these contacts' sessions, by (contact id, session id)."""
    if connection.vendor != "postgresql":
        found = SessionSummary.objects.filter(contact_id__in=contact_ids, session_id__in=session_ids)
        return {(s.contact_id, s.session_id): s for s in found}
    columns, attnames, json_positions = _select_list(SessionSummary, "s")
    sql = (
        f"SELECT {columns} FROM sequences_sessionsummary s "  # noqa: S608
        "WHERE s.contact_id = ANY(%b::bigint[]) AND s.session_id = ANY(%b::varchar[])"
    )
    with _cursor() as cursor:
        cursor.execute(sql, [contact_ids, session_ids])
        found = [_instance(SessionSummary, attnames, json_positions, row) for row in cursor.fetchall()]
    return {(s.contact_id, s.session_id): s for s in found}


@dataclass(frozen=True, slots=True)
class IngestSettings:
    session_gap_minutes: int
    lifecycle_stages: frozenset[str]


def ingest_settings() -> IngestSettings:
    """The account's settings that ingest needs, in one query once the account exists."""
    if connection.vendor == "postgresql":
        with _cursor() as cursor:
            cursor.execute(
                "SELECT a.session_gap_minutes,"
                " ARRAY(SELECT slug FROM sequences_lifecyclestage) FROM sequences_account a WHERE a.id = 1"
            )
            row = cursor.fetchone()
        if row is not None:
            return IngestSettings(row[0], frozenset(row[1]))
    account = Account.current()
    return IngestSettings(
        account.session_gap_minutes,
        frozenset(LifecycleStage.objects.values_list("slug", flat=True)),
    )


@dataclass(frozen=True, slots=True)
class IntentSettings:
    triggers: TriggerSettings
    scoring_key: tuple | None  # (id, version, created_at) of the active scoring model, None if there is none


def intent_settings() -> IntentSettings | None:
    """Trigger settings and which scoring model is active, in one query; None until both rows exist."""
    if connection.vendor != "postgresql":
        return None
    columns, attnames, json_positions = _select_list(TriggerSettings, "t")
    sql = (
        f"SELECT m.id, m.version, m.created_at, {columns} FROM sequences_triggersettings t "  # noqa: S608
        "LEFT JOIN LATERAL (SELECT id, version, created_at FROM sequences_scoringmodel WHERE is_active"
        " ORDER BY version DESC LIMIT 1) m ON true WHERE t.id = 1"
    )
    with _cursor() as cursor:
        cursor.execute(sql)
        row = cursor.fetchone()
    if row is None or row[0] is None:
        return None
    return IntentSettings(_instance(TriggerSettings, attnames, json_positions, row[3:]), tuple(row[:3]))


def track_event_counts(windows: Mapping[int, tuple[datetime, datetime]], names: list[str]) -> dict[int, int]:
    """How many track events named one of `names` each contact has had within its own (since, until) window, both
    ends included; contacts with none are left out. One statement however many contacts: each contact's window
    is its own, so one contact's old events never count because another contact's window reaches back further."""
    if not windows:
        return {}
    if connection.vendor != "postgresql":
        # One query over the widest window, each row kept if within its contact's own (zero-setup runs only).
        earliest, latest = min(w[0] for w in windows.values()), max(w[1] for w in windows.values())
        rows = Event.objects.filter(
            contact_id__in=list(windows), type="track", name__in=names, occurred_at__range=(earliest, latest)
        ).values_list("contact_id", "occurred_at")
        counts = Counter(cid for cid, at in rows if windows[cid][0] <= at <= windows[cid][1])
        return dict(counts)
    contact_ids = list(windows)
    with _cursor() as cursor:
        cursor.execute(
            "SELECT w.contact_id, count(*) FROM unnest(%b::bigint[], %b::timestamptz[], %b::timestamptz[])"
            " AS w (contact_id, since, until) JOIN sequences_event e ON e.contact_id = w.contact_id"
            " AND e.occurred_at >= w.since AND e.occurred_at <= w.until"
            " WHERE e.type = 'track' AND e.name = ANY(%b::varchar[]) GROUP BY w.contact_id",
            [contact_ids, [windows[c][0] for c in contact_ids], [windows[c][1] for c in contact_ids], names],
        )
        return dict(cursor.fetchall())


def active_write_key(key: str) -> WriteKey | None:
    """The unrevoked write key `key`: asked on every tracking request."""
    if connection.vendor != "postgresql":
        return WriteKey.objects.active().filter(key=key).first()
    columns, attnames, json_positions = _select_list(WriteKey, "w")
    with _cursor() as cursor:
        cursor.execute(
            f"SELECT {columns} FROM sequences_writekey w WHERE w.key = %s AND w.revoked_at IS NULL",  # noqa: S608
            [key],
        )
        row = cursor.fetchone()
    return None if row is None else _instance(WriteKey, attnames, json_positions, row)
