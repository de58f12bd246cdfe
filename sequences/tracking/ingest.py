"""Store a batch of validated events: resolve contacts, merge identities, sessionise, insert once.

One transaction per request and a handful of queries per batch, whatever its size: per-event commits cap
PostgreSQL at a few thousand rows a second (see docs/performance.md).
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone

from sequences.bulk_sql import copy_rows, insert_rows, update_rows
from sequences.contacts import apply_profile_update, contact_merge
from sequences.conversions import record_orders
from sequences.intent import CONTACT_INTENT_FIELDS, NewEvent, update_intent
from sequences.models import AnonymousId, Contact, Event, WriteKey
from sequences.tracking.ingest_reads import contacts_by_identity, ingest_settings, known_message_ids
from sequences.tracking.payloads import IncomingEvent
from sequences.tracking.sessions import SessionState, assign_sessions
from sequences.tracking.traits import profile_from_traits, time_zone_from_context
from sequences.triggers import fire_waiting_triggers, record_triggers

log = logging.getLogger(__name__)

EVENT_FIELDS = [
    "source_id",
    "contact_id",
    "type",
    "name",
    "properties",
    "context",
    "occurred_at",
    "received_at",
    "message_id",
    "session_id",
]
NEW_CONTACT_FIELDS = [field.attname for field in Contact._meta.concrete_fields if not field.primary_key]
CONTACT_FIELDS_UPDATED = [
    "user_id",
    "email",
    "first_name",
    "last_name",
    "time_zone",
    "lifecycle_stage",
    "traits",
    "last_seen_at",
    "session_id",
    "session_last_event_at",
    *CONTACT_INTENT_FIELDS,
]


# An event with the id of the write key it came in with (message ids are unique per write key).
SourcedEvent = tuple[int, IncomingEvent]


@dataclass(frozen=True, slots=True)
class IngestResult:
    stored: int
    duplicates: int


class ContactResolver:
    """Finds or creates the contact of each message, merging anonymous history into known contacts.

    The batch's identities are locked (`_lock_identities`), so nobody else creates or merges these contacts
    meanwhile: new contacts and anonymous ids are gathered in memory and written with one INSERT each in `save`.
    """

    def __init__(self, events: list[IncomingEvent]):
        user_ids = {e.user_id for e in events if e.user_id} | {e.previous_id for e in events if e.previous_id}
        anonymous_ids = {e.anonymous_id for e in events if e.anonymous_id} | {
            e.previous_id for e in events if e.previous_id
        }
        known = contacts_by_identity(user_ids, anonymous_ids)
        self.by_user: dict[str, Contact] = known.by_user
        self.by_anonymous: dict[str, Contact] = known.by_anonymous
        # Keyed by object identity: new contacts have no pk yet, and Django clears a deleted instance's pk.
        self.touched: dict[int, Contact] = {}
        self.merged_into: dict[int, Contact] = {}
        self.new_contacts: list[Contact] = []
        self.new_links: list[tuple[str, Contact]] = []

    def final(self, contact: Contact) -> Contact:
        """The contact as it stands after every merge this batch made."""
        while id(contact) in self.merged_into:
            contact = self.merged_into[id(contact)]
        return contact

    def resolve(self, event: IncomingEvent) -> Contact:
        if event.type == "alias":
            contact = self._known(event.user_id)
            self._link(event.previous_id, contact, previous_is_user_id=True)
        elif event.user_id:
            contact = self._known(event.user_id, anonymous_id=event.anonymous_id)
            if event.anonymous_id:
                self._link(event.anonymous_id, contact)
        else:
            contact = self._anonymous(event.anonymous_id)
        self.touched[id(contact)] = contact
        return contact

    def save(self) -> None:
        """Write the new contacts (primary keys come back from PostgreSQL and SQLite) and anonymous ids."""
        now = timezone.now()
        for contact in self.new_contacts:
            contact.created_at = now
        ids = insert_rows(Contact, self.new_contacts, NEW_CONTACT_FIELDS, returning="id")
        for contact, pk in zip(self.new_contacts, ids, strict=True):
            contact.pk = pk
            contact._state.adding = False
        links = [{"value": value, "contact_id": self.final(c).pk, "created_at": now} for value, c in self.new_links]
        insert_rows(AnonymousId, links, ["value", "contact_id", "created_at"], ignore_conflicts=True)

    def _new(self, **fields) -> Contact:
        contact = Contact(**fields)
        self.new_contacts.append(contact)
        return contact

    def _known(self, user_id: str, anonymous_id: str | None = None) -> Contact:
        contact = self.by_user.get(user_id)
        if contact is not None:
            return contact
        # First identify of a visitor we only knew anonymously: the anonymous contact becomes the known one.
        candidate = self.by_anonymous.get(anonymous_id) if anonymous_id else None
        if candidate is not None and candidate.is_anonymous:
            candidate.user_id = user_id  # saved with the other contact fields at the end of the batch
            self.by_user[user_id] = candidate
            return candidate
        contact = self._new(user_id=user_id)
        self.by_user[user_id] = contact
        return contact

    def _anonymous(self, anonymous_id: str) -> Contact:
        contact = self.by_anonymous.get(anonymous_id)
        if contact is None:
            contact = self._new()
            self.by_anonymous[anonymous_id] = contact
            self.new_links.append((anonymous_id, contact))
        return contact

    def _link(self, identifier: str, contact: Contact, *, previous_is_user_id: bool = False) -> None:
        """Make `identifier` (an anonymous id, or an alias's previousId) lead to `contact`."""
        other = self.by_anonymous.get(identifier)
        if other is None and previous_is_user_id:
            other = self.by_user.get(identifier)
        if other is None:
            self.by_anonymous[identifier] = contact
            self.new_links.append((identifier, contact))
            return
        if other is contact or not other.is_anonymous:
            # Another known person on the same device: keep them apart.
            return
        if other.pk is None:
            # Both are new in this batch: the anonymous one simply becomes this contact.
            self.new_contacts.remove(other)
        else:
            if contact.pk is None:
                self.new_contacts.remove(contact)
                contact.save()
            contact_merge(source=other, into=contact)
        self.touched.pop(id(other), None)
        self.merged_into[id(other)] = contact
        for key, value in list(self.by_anonymous.items()):
            if value is other:
                self.by_anonymous[key] = contact
        self.new_links = [(value, contact if linked is other else linked) for value, linked in self.new_links]


def ingest_events(*, source: WriteKey, events: list[IncomingEvent], attempts: int = 5) -> IngestResult:
    """Store `events` from `source`; a repeated messageId is answered as stored but not stored twice."""
    sourced = [(source.pk, event) for event in events]
    return store_events(lambda: sourced, attempts=attempts)


def store_events(take: Callable[[], list[SourcedEvent]], *, attempts: int = 5) -> IngestResult:
    """Store what `take` returns, in one transaction that `take` runs in (so the tracking queue can claim batches
    in it: `sequences.tracking.queue`). On a conflict the transaction starts again from `take`."""
    # Most batches repeat no messageId, so they are stored without asking first; when the unique constraint says
    # one was stored before (a client's retry), the batch starts again asking which (bench/ingest_cpu.py: the
    # question cost ~1 ms of PostgreSQL a batch).
    check_duplicates = False
    for attempt in range(1, attempts + 1):
        try:
            with transaction.atomic():
                sourced = take()
                if not sourced:
                    return IngestResult(stored=0, duplicates=0)
                _lock_identities([event for _, event in sourced])
                return _ingest(sourced, check_duplicates=check_duplicates)
        except (OperationalError, IntegrityError) as error:
            if isinstance(error, IntegrityError) and not check_duplicates:
                check_duplicates = True
                continue
            # A concurrent batch merged or created one of these contacts first: start again from what is stored.
            if attempt == attempts:
                raise
            log.warning("ingest retry %s after %s", attempt, error)
            time.sleep(0.02 * attempt + random.random() * 0.02)  # noqa: S311  (jitter, not security)
    raise AssertionError("unreachable")


def identities(events: list[IncomingEvent]) -> set[str]:
    """The user ids, anonymous ids and alias previousIds these events name: what a batch locks."""
    return {i for e in events for i in (e.user_id, e.anonymous_id, e.previous_id) if i is not None}


def _lock_identities(events: list[IncomingEvent]) -> None:
    """Take a transaction-scoped advisory lock per identity (user id, anonymous id) in the batch, in one sorted
    order. Batches about the same people then queue instead of deadlocking, and a merge cannot delete a contact
    another batch is writing events for. Other people's batches are not held up."""
    if connection.vendor != "postgresql":
        return
    keys = identities(events)
    if not keys:
        return
    hashes = sorted(
        {int.from_bytes(hashlib.blake2b(k.encode(), digest_size=8).digest(), "big", signed=True) for k in keys}
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(%s::bigint[]) AS k", [hashes])


def _ingest(sourced: list[SourcedEvent], *, check_duplicates: bool) -> IngestResult:
    unique: dict[tuple[int, str], SourcedEvent] = {}
    for source_id, event in sourced:
        unique.setdefault((source_id, event.message_id), (source_id, event))
    seen = known_message_ids(list(unique)) if check_duplicates else set()
    fresh = [pair for key, pair in unique.items() if key not in seen]
    if not fresh:
        return IngestResult(stored=0, duplicates=len(sourced))

    settings = ingest_settings()
    gap = timedelta(minutes=settings.session_gap_minutes)
    resolver = ContactResolver([event for _, event in fresh])
    resolved = [(source_id, event, resolver.resolve(event)) for source_id, event in fresh]
    resolver.save()
    contacts_by_pk = {contact.pk: contact for contact in resolver.touched.values()}
    per_contact: dict[int, list[SourcedEvent]] = defaultdict(list)
    for source_id, event, resolved_contact in resolved:
        contact = resolver.final(resolved_contact)
        if event.type == "identify" and event.traits:
            contact.traits = {**contact.traits, **event.traits}
            apply_profile_update(contact, profile_from_traits(event.traits), known_stages=settings.lifecycle_stages)
        if not contact.time_zone:
            contact.time_zone = time_zone_from_context(event.context) or ""
        per_contact[contact.pk].append((source_id, event))

    rows: list[tuple] = []  # EVENT_FIELDS values, for COPY
    for contact_pk, contact_events in per_contact.items():
        contact = contacts_by_pk[contact_pk]
        state = (
            SessionState(contact.session_id, contact.session_last_event_at)
            if contact.session_id and contact.session_last_event_at
            else None
        )
        session_ids, state = assign_sessions(
            contact_key=contact.pk,
            state=state,
            events=[(e.occurred_at, e.session_id) for _, e in contact_events],
            gap=gap,
        )
        if state is not None:
            contact.session_id, contact.session_last_event_at = state.session_id, state.last_event_at
        # A client clock far ahead must not make a contact look active in the future.
        latest = max(min(e.occurred_at, e.received_at) for _, e in contact_events)
        if contact.last_seen_at is None or latest > contact.last_seen_at:
            contact.last_seen_at = latest
        rows.extend(
            (  # in EVENT_FIELDS order
                source_id,
                contact.pk,
                e.type,
                e.name,
                # identify and group carry traits instead of properties; keep them on the event for the timeline
                e.traits if e.type in ("identify", "group") else e.properties,
                e.context,
                e.occurred_at,
                e.received_at,
                e.message_id,
                session_id,
            )
            for (source_id, e), session_id in zip(contact_events, session_ids, strict=True)
        )

    copy_rows(Event, rows, EVENT_FIELDS)
    update = update_intent(
        contacts=contacts_by_pk,
        events=(
            NewEvent(contact_id, session_id, message_id, type_, name, properties, context, occurred_at)
            for _, contact_id, type_, name, properties, context, occurred_at, _, message_id, session_id in rows
        ),
    )
    contacts = sorted(contacts_by_pk.values(), key=lambda c: c.pk)
    update_rows(Contact, contacts, CONTACT_FIELDS_UPDATED)
    now = timezone.now()
    record_triggers(update.triggers, now=now)
    if update.orders:
        record_orders(update.orders, now=now)
    if any(e.type == "identify" for _, e in fresh) or resolver.merged_into:
        fire_waiting_triggers([c.pk for c in contacts if c.email], now=now)
    return IngestResult(stored=len(rows), duplicates=len(sourced) - len(rows))
