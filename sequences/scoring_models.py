"""Scoring model services: new versions, activation, and the what-if re-tiering of current contacts."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Max

from sequences.intent import active_scoring, contact_fact_context
from sequences.intent_scoring import ScoringFacts, score_intent
from sequences.models import Contact, ScoringModel
from sequences.scoring_config import ScoringConfig, parse_config

WHAT_IF_CONTACTS = 2000


def scoring_model_create(*, config: dict[str, Any], note: str = "", user=None, activate: bool = True) -> ScoringModel:
    """Save `config` as the next version (it is validated first: ConfigError lists every problem)."""
    parse_config(config)
    with transaction.atomic():
        # Lock the active row so two editors saving at once get consecutive versions, not a clash.
        list(ScoringModel.objects.select_for_update().filter(is_active=True))
        version = (ScoringModel.objects.aggregate(top=Max("version"))["top"] or 0) + 1
        if activate:
            ScoringModel.objects.filter(is_active=True).update(is_active=False)
        return ScoringModel.objects.create(
            version=version, config=config, note=note[:200], is_active=activate, created_by=user
        )


def scoring_model_activate(*, model: ScoringModel) -> ScoringModel:
    with transaction.atomic():
        ScoringModel.objects.filter(is_active=True).exclude(pk=model.pk).update(is_active=False)
        model.is_active = True
        model.save(update_fields=["is_active"])
    return model


@dataclass(frozen=True, slots=True)
class Retier:
    contact: Contact
    current_score: float
    current_tier: str
    draft_score: float
    draft_tier: str


@dataclass(frozen=True, slots=True)
class WhatIf:
    contacts_scored: int
    moves: dict[tuple[str, str], int]  # (current tier, draft tier) -> contacts
    rows: list[Retier]  # the most recently active contacts, changed tiers first

    @property
    def changed(self) -> int:
        return sum(n for (before, after), n in self.moves.items() if before != after)


def what_if(*, draft: ScoringConfig, now: datetime, sample: int = 12, at_last_activity: bool = False) -> WhatIf:
    """How the most recently scored contacts would score and tier under `draft`, against the active model.

    As of `now` by default, decay included: who would be in which tier today. `at_last_activity` scores each
    contact as of its last event instead, before any fading: how the draft reads the sessions themselves, which
    is what a change of weights or tables is about (after a quiet week, decay has everyone low under any weights).
    """
    _, active = active_scoring()
    contacts = (
        Contact.objects.exclude(intent_facts={})
        .order_by("-intent_scored_at", "-pk")
        .only(
            "pk", "user_id", "email", "first_name", "last_name", "intent_facts", "time_zone", "traits", "last_seen_at"
        )
    )[:WHAT_IF_CONTACTS]
    moves: Counter[tuple[str, str]] = Counter()
    rows: list[Retier] = []
    for contact in contacts:
        facts = ScoringFacts.from_json(contact.intent_facts, contact=contact_fact_context(contact))
        moment = facts.session_last_event_at if at_last_activity and facts.session_last_event_at else now
        before = score_intent(facts, active, now=moment, explain=False)
        after = score_intent(facts, draft, now=moment, explain=False)
        moves[(before.tier, after.tier)] += 1
        rows.append(Retier(contact, before.value, before.tier, after.value, after.tier))
    shown = sorted(
        rows[: sample * 10], key=lambda r: (r.current_tier == r.draft_tier, -abs(r.draft_score - r.current_score))
    )
    return WhatIf(contacts_scored=len(rows), moves=dict(moves), rows=shown[:sample])
