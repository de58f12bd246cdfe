"""Contact services: merging an anonymous visitor into a known contact, applying profile updates."""

from __future__ import annotations

from collections.abc import Collection

from django.db import transaction

from sequences.models import AnonymousId, Contact, Event, ScoreHistory, SessionSummary, TriggerOccurrence
from sequences.tracking.traits import ProfileUpdate


def contact_merge(*, source: Contact, into: Contact) -> Contact:
    """Move everything `source` has onto `into` and delete `source`: no duplicate contacts, no lost events.

    `into` keeps its own values; `source` only fills what `into` lacks. Later features that hang rows off a
    contact must move them here too.
    """
    if source.pk == into.pk:
        return into
    with transaction.atomic():
        Event.objects.filter(contact=source).update(contact=into)
        AnonymousId.objects.filter(contact=source).update(contact=into)
        ScoreHistory.objects.filter(contact=source).update(contact=into)
        # Rows unique per contact: where `into` already has the same one, it wins.
        TriggerOccurrence.objects.filter(
            contact=source, key__in=TriggerOccurrence.objects.filter(contact=into).values("key")
        ).delete()
        TriggerOccurrence.objects.filter(contact=source).update(contact=into)
        SessionSummary.objects.filter(
            contact=source, session_id__in=SessionSummary.objects.filter(contact=into).values("session_id")
        ).delete()
        SessionSummary.objects.filter(contact=source).update(contact=into)
        into.categories_seen = sorted(set(into.categories_seen) | set(source.categories_seen))
        if source.intent_scored_at and (not into.intent_scored_at or source.intent_scored_at > into.intent_scored_at):
            into.intent_score, into.intent_tier = source.intent_score, source.intent_tier
            into.intent_scored_at, into.intent_facts = source.intent_scored_at, source.intent_facts
        for field in ("email", "first_name", "last_name", "time_zone", "lifecycle_stage"):
            if not getattr(into, field) and getattr(source, field):
                setattr(into, field, getattr(source, field))
        into.traits = {**source.traits, **into.traits}
        if source.last_seen_at and (not into.last_seen_at or source.last_seen_at > into.last_seen_at):
            into.last_seen_at = source.last_seen_at
        if source.session_last_event_at and (
            not into.session_last_event_at or source.session_last_event_at > into.session_last_event_at
        ):
            into.session_id, into.session_last_event_at = source.session_id, source.session_last_event_at
        source.delete()
    return into


def apply_profile_update(contact: Contact, update: ProfileUpdate, *, known_stages: Collection[str]) -> None:
    """Copy what an identify says onto the contact (in memory; the caller saves)."""
    for field in ("email", "first_name", "last_name", "time_zone"):
        value = getattr(update, field)
        if value is not None:
            setattr(contact, field, value)
    # An unknown stage stays in the traits only; an admin can add it to the list of stages.
    if update.lifecycle_stage in known_stages:
        contact.lifecycle_stage = update.lifecycle_stage
