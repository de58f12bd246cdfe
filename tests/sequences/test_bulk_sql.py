"""Bulk writes of the ingest path: what goes in by arrays or COPY comes back as the ORM would have stored it."""

from datetime import UTC, datetime

import pytest
from django.db import DataError, IntegrityError, connection, transaction

from sequences.bulk_sql import copy_rows, insert_rows, update_rows
from sequences.models import Contact, Event, ScoreHistory, WriteKey

WHEN = datetime(2026, 11, 30, 9, 15, 30, 123456, tzinfo=UTC)
AWKWARD = 'tab\there, "quotes", back\\slash, new\nline, {braces}, comma, ünïcödé, <b>html</b>'


@pytest.fixture
def source(db):
    return WriteKey.objects.create(name="site")


@pytest.fixture
def contact(db):
    return Contact.objects.create(user_id="u-1", email="ada@example.com")


def event_row(source, contact, message_id, **overrides):
    return {
        "source_id": source.pk,
        "contact_id": contact.pk,
        "type": "track",
        "name": AWKWARD,
        "properties": {"nested": {"list": [1, 2.5, None, True]}, "text": AWKWARD},
        "context": {},
        "occurred_at": WHEN,
        "received_at": WHEN,
        "message_id": message_id,
        "session_id": "",
        **overrides,
    }


FIELDS = ["source_id", "contact_id", "type", "name", "properties", "context", "occurred_at", "received_at"]
FIELDS += ["message_id", "session_id"]


@pytest.mark.parametrize("write", [copy_rows, insert_rows], ids=["copy", "insert"])
def test_rows_come_back_as_written(write, source, contact):
    write(Event, [event_row(source, contact, "m-1"), event_row(source, contact, "m-2", properties={})], FIELDS)
    stored = {e.message_id: e for e in Event.objects.all()}
    assert stored["m-1"].name == AWKWARD
    assert stored["m-1"].properties == {"nested": {"list": [1, 2.5, None, True]}, "text": AWKWARD}
    assert stored["m-1"].occurred_at == WHEN
    assert stored["m-2"].properties == {}


def test_copy_takes_tuples_in_field_order(source, contact):
    """Ingest's events go in as tuples: the JSON columns converted, every other value as given."""
    rows = [tuple(event_row(source, contact, m)[name] for name in FIELDS) for m in ("t-1", "t-2")]
    copy_rows(Event, rows, FIELDS)
    stored = {e.message_id: e for e in Event.objects.all()}
    assert set(stored) == {"t-1", "t-2"}
    assert stored["t-1"].name == AWKWARD
    assert stored["t-1"].properties == {"nested": {"list": [1, 2.5, None, True]}, "text": AWKWARD}
    assert stored["t-2"].occurred_at == WHEN
    assert stored["t-2"].contact_id == contact.pk


def test_insert_returns_ids_in_row_order(db):
    contacts = [Contact(user_id=f"u-{i}", created_at=WHEN) for i in range(5)]
    fields = [f.attname for f in Contact._meta.concrete_fields if not f.primary_key]
    ids = insert_rows(Contact, contacts, fields, returning="id")
    assert [Contact.objects.get(pk=pk).user_id for pk in ids] == [c.user_id for c in contacts]


def test_update_writes_each_row_its_own_values_and_nulls(contact):
    other = Contact.objects.create(user_id="u-2", intent_score=12.5)
    contact.intent_score, contact.traits, contact.last_seen_at = 90, {"plan": AWKWARD}, WHEN
    other.intent_score, other.traits, other.last_seen_at = None, {}, None
    assert update_rows(Contact, [contact, other], ["intent_score", "traits", "last_seen_at"]) == 2
    contact.refresh_from_db()
    other.refresh_from_db()
    assert (contact.intent_score, contact.traits, contact.last_seen_at) == (90.0, {"plan": AWKWARD}, WHEN)
    assert (other.intent_score, other.traits, other.last_seen_at) == (None, {}, None)


def test_a_copy_that_conflicts_is_djangos_integrity_error_and_stores_nothing(source, contact):
    copy_rows(Event, [event_row(source, contact, "m-1")], FIELDS)
    with pytest.raises(IntegrityError), transaction.atomic():
        copy_rows(Event, [event_row(source, contact, "m-new"), event_row(source, contact, "m-1")], FIELDS)
    assert sorted(Event.objects.values_list("message_id", flat=True)) == ["m-1"]


def test_copy_takes_instances_too(contact):
    copy_rows(
        ScoreHistory,
        [ScoreHistory(contact=contact, scored_at=WHEN, score=61.5, tier="medium", model_version=3)],
        ["contact_id", "scored_at", "score", "tier", "previous_tier", "model_version"],
    )
    row = ScoreHistory.objects.get()
    assert (row.score, row.tier, row.previous_tier, row.model_version) == (61.5, "medium", "", 3)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite does not enforce lengths")
@pytest.mark.parametrize("write", [copy_rows, insert_rows], ids=["copy", "insert"])
def test_a_value_too_long_for_its_column_is_refused_not_cut(write, source, contact):
    with pytest.raises(DataError), transaction.atomic():
        write(Event, [event_row(source, contact, "m" * 201)], FIELDS)
    assert not Event.objects.exists()
