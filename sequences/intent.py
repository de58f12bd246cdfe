"""Intent on ingest (shell): fold new events into session facts, re-score, record triggers.

Runs inside the ingest transaction with a fixed number of queries per batch; the pure work is done by
session_facts, intent_scoring and trigger_detection.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sequences.bulk_sql import copy_rows, update_rows
from sequences.intent_scoring import IntentScore, ScoringFacts, score_intent
from sequences.intent_timeline import faded_score
from sequences.models import (
    Contact,
    ScoreHistory,
    ScoringModel,
    SessionSummary,
    TriggerSettings,
)
from sequences.scoring_config import DEFAULT_CONFIG_JSON, ScoringConfig, parse_config
from sequences.session_facts import SessionFacts, add_event, event_facts, start_session
from sequences.tracking.ingest_reads import intent_settings, session_summaries, track_event_counts
from sequences.trigger_detection import TriggerCandidate, TriggerRules, event_triggers

CONTACT_INTENT_FIELDS = ["intent_score", "intent_tier", "intent_scored_at", "intent_facts", "categories_seen"]
SCORE_HISTORY_FIELDS = ["contact_id", "scored_at", "score", "tier", "previous_tier", "model_version"]
_parsed: dict[tuple, ScoringConfig] = {}


@dataclass(frozen=True, slots=True)
class NewEvent:
    contact_id: int
    session_id: str
    message_id: str
    type: str
    name: str
    properties: dict
    context: dict
    occurred_at: datetime


def active_scoring() -> tuple[ScoringModel, ScoringConfig]:
    """The active scoring model (version 1, the shipped defaults, is created on first use)."""
    model = ScoringModel.objects.active()
    if model is None:
        model, _ = ScoringModel.objects.get_or_create(
            version=1, defaults={"config": DEFAULT_CONFIG_JSON, "is_active": True, "note": "Shipped defaults"}
        )
    # Versions never change, so a parsed version can be kept for good. Keyed by more than the primary key: a
    # database restored or reset reuses ids for different versions, and this cache outlives such a reset.
    key = (model.pk, model.version, model.created_at)
    if key not in _parsed:
        _parsed[key] = parse_config(model.config, stored=True)
    return model, _parsed[key]


def _intent_settings() -> tuple[TriggerSettings, int, ScoringConfig]:
    """Trigger settings, the active model's version and its parsed config: one query once all are known."""
    loaded = intent_settings()
    if loaded is None or loaded.scoring_key not in _parsed:
        model, config = active_scoring()
        return TriggerSettings.current(), model.version, config
    return loaded.triggers, loaded.scoring_key[1], _parsed[loaded.scoring_key]


def trigger_rules(settings: TriggerSettings) -> TriggerRules:
    groups = tuple(
        (str(group.get("name", "")), str(group.get("path_prefix", "")))
        for group in settings.page_groups
        if isinstance(group, dict) and group.get("path_prefix")
    )
    return TriggerRules(
        cart_abandon_minutes=settings.cart_abandon_minutes,
        page_exit_minutes=settings.page_exit_minutes,
        page_groups=groups,
        long_session_minutes=settings.long_session_minutes,
        lapsed_days=settings.lapsed_days,
    )


def contact_fact_context(contact: Contact) -> dict:
    return {
        "email": contact.email,
        "time_zone": contact.time_zone,
        "traits": contact.traits,
        "last_seen_at": contact.last_seen_at,
    }


def current_intent(
    contact: Contact, config: ScoringConfig, *, now: datetime, explain: bool = True
) -> IntentScore | None:
    """The contact's score as of `now` (decay included), from the facts stored at the last event."""
    if not contact.intent_facts:
        return None
    facts = ScoringFacts.from_json(contact.intent_facts, contact=contact_fact_context(contact))
    return score_intent(facts, config, now=now, explain=explain)


@dataclass(frozen=True, slots=True)
class IntentUpdate:
    triggers: list[tuple[Contact, TriggerCandidate]]  # fired by the events; the caller records them
    orders: list[NewEvent]  # events that are orders: they exit enrolments and credit emails


def update_intent(*, contacts: dict[int, Contact], events: Iterable[NewEvent]) -> IntentUpdate:
    """Fold, score and detect for a batch."""
    settings, model_version, config = _intent_settings()
    rules = trigger_rules(settings)
    by_contact: dict[int, list[NewEvent]] = defaultdict(list)
    for event in events:
        by_contact[event.contact_id].append(event)
    if not by_contact:
        return IntentUpdate([], [])
    session_ids = {e.session_id for items in by_contact.values() for e in items}
    summaries = session_summaries(list(by_contact), list(session_ids))
    download_names = [name for name, action in settings.event_actions.items() if action == "content_downloaded"]
    download_counts = _recent_downloads(by_contact, download_names, config.repeat_download_days)

    folded: dict[tuple[int, str], SessionFacts] = {}  # each touched session's facts after this batch
    history: list[ScoreHistory] = []
    found: list[tuple[Contact, TriggerCandidate]] = []
    orders: list[NewEvent] = []
    for contact_id, items in by_contact.items():
        contact = contacts[contact_id]
        latest: tuple[SessionFacts, NewEvent, str | None] | None = None
        for event in sorted(items, key=lambda e: e.occurred_at):
            facts = event_facts(
                type=event.type,
                name=event.name,
                properties=event.properties,
                context=event.context,
                occurred_at=event.occurred_at,
                event_actions=settings.event_actions,
            )
            if facts.action == "order_completed":
                orders.append(event)
            key = (contact_id, event.session_id)
            summary = summaries.get(key)
            if summary is None:
                after = start_session(facts, frozenset(contact.categories_seen))
                before = None
                summaries[key] = SessionSummary(contact_id=contact_id, session_id=event.session_id)
            else:
                before = folded[key] if key in folded else SessionFacts.from_json(summary.facts)
                after = add_event(before, facts)
            folded[key] = after
            candidates = list(
                event_triggers(
                    facts, before, after, session_id=event.session_id, message_id=event.message_id, rules=rules
                )
            )
            if candidates:
                # Scored as this event left the session, not as the whole batch does: a server's batch may hold
                # a contact's whole afternoon, and the trigger keeps the score at its own moment. Triggers are
                # rare, so this costs little.
                downloads = download_counts.get(contact_id, 0)
                then = score_intent(
                    _scoring_facts(contact, after, event, facts.action, downloads),
                    config,
                    now=after.last_event_at,
                    explain=False,
                )
                found.extend((contact, replace(c, score=then.value, tier=then.tier)) for c in candidates)
            if latest is None or after.last_event_at >= latest[0].last_event_at:
                latest = (after, event, facts.action)
        session, event, action = latest
        change = _score(contact, session, event, action, config, model_version, download_counts.get(contact_id, 0))
        if change is not None:
            history.append(change)

    touched = []
    for key, after in folded.items():  # serialised once per session, however many of its events came
        summary = summaries[key]
        summary.facts, summary.quiet_checked = after.to_json(), False
        summary.started_at, summary.last_event_at = after.started_at, after.last_event_at
        touched.append(summary)
    copy_rows(
        SessionSummary,
        [summary for summary in touched if summary.pk is None],
        ["contact_id", "session_id", "started_at", "last_event_at", "facts", "quiet_checked"],
    )
    update_rows(
        SessionSummary,
        sorted((summary for summary in touched if summary.pk is not None), key=lambda summary: summary.pk),
        ["facts", "started_at", "last_event_at", "quiet_checked"],
    )
    copy_rows(ScoreHistory, history, SCORE_HISTORY_FIELDS)
    return IntentUpdate(found, orders)


def _recent_downloads(by_contact: dict[int, list[NewEvent]], names: list[str], days: int) -> dict[int, int]:
    """Each contact's content downloads in the `days` up to its latest event here, those events included (they are
    stored by now), in one query. Only contacts with a download among these events are counted: a repeat
    download is about a download arriving, and counting every scored contact would cost every batch a scan of
    their history."""
    window = timedelta(days=days)
    wanted = set(names)
    windows = {}
    for contact_id, items in by_contact.items():
        if any(e.name in wanted for e in items):
            until = max(e.occurred_at for e in items)
            windows[contact_id] = (until - window, until)
    return track_event_counts(windows, names) if windows else {}


def _score(
    contact: Contact,
    session: SessionFacts,
    event: NewEvent,
    action: str | None,
    config: ScoringConfig,
    model_version: int,
    recent_downloads: int,
) -> ScoreHistory | None:
    """Score the contact as of its latest event and keep the facts, so the score can be explained later; the
    history row if the score or tier changed from what the previous one had faded to by now. (Three batches in
    four left both as they were in bench/ingest.py's traffic: the history keeps the changes, the sparkline draws
    them, and fills in the fading between them: intent_timeline.)"""
    facts = _scoring_facts(contact, session, event, action, recent_downloads)
    # Ingest keeps the value and tier; the explanation's wording is built when someone reads it.
    result = score_intent(facts, config, now=session.last_event_at, explain=False)
    previous_score, previous_tier, previous_at = contact.intent_score, contact.intent_tier, contact.intent_scored_at
    contact.intent_score, contact.intent_tier = result.value, result.tier
    contact.intent_scored_at, contact.intent_facts = session.last_event_at, facts.to_json()
    seen = set(contact.categories_seen) | set(session.categories)
    contact.categories_seen = sorted(seen)
    if previous_score is not None and previous_tier == result.tier:
        # Compared with the faded score: a visit a day later that scores what the last one did is a return from
        # the fade, which the curve must show; a second batch of the same session is no change.
        hours = (session.last_event_at - previous_at).total_seconds() / 3600 if previous_at else 0.0
        if round(faded_score(previous_score, hours, config.half_life_hours), 1) == result.value:
            return None
    return ScoreHistory(
        contact_id=contact.pk,
        scored_at=session.last_event_at,
        score=result.value,
        tier=result.tier,
        previous_tier=previous_tier,
        model_version=model_version,
    )


def _scoring_facts(
    contact: Contact, session: SessionFacts, event: NewEvent, action: str | None, recent_downloads: int
) -> ScoringFacts:
    return ScoringFacts(
        session_duration_seconds=session.duration_seconds,
        product_dwell_seconds=session.product_dwell_seconds,
        page_views=session.page_views,
        product_views=session.product_views,
        actions=session.actions,
        categories=session.categories,
        converted=session.converted,
        session_last_event_at=session.last_event_at,
        lifecycle_stage=contact.lifecycle_stage,
        past_categories=session.prior_categories,
        recent_downloads=recent_downloads,
        event_name=event.name,
        event_action=action or "",
        event_properties=event.properties,
        contact=contact_fact_context(contact),
    )
