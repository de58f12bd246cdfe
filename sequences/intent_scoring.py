"""Intent scoring (pure): facts about a contact's session -> a 0-100 score, a tier, and its explanation.

score = sum of weight * sub-score over the four factors, then context rules (adjust / cap), then decay with age.
Every step is a line of the explanation and the lines' contributions add up to the score.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sequences import conditions
from sequences.condition_reasons import deciding_facts
from sequences.scoring_config import FACTOR_LABELS, ScoringConfig

HIGH, MEDIUM, LOW = "high", "medium", "low"


@dataclass(frozen=True, slots=True)
class ScoringFacts:
    """What scoring looks at. `event_*` describe the event being scored (the latest one)."""

    session_duration_seconds: float = 0.0
    product_dwell_seconds: float = 0.0
    page_views: int = 0
    product_views: int = 0
    actions: frozenset[str] = frozenset()  # funnel actions seen in the session
    categories: tuple[str, ...] = ()  # product categories of the session, most viewed first
    converted: bool = False
    session_last_event_at: datetime | None = None
    lifecycle_stage: str = ""
    past_categories: frozenset[str] = frozenset()
    recent_downloads: int = 0  # content downloads within the config's repeat_download_days, this one included
    event_name: str = ""
    event_action: str = ""
    event_properties: Mapping[str, Any] = field(default_factory=dict)
    contact: Mapping[str, Any] = field(default_factory=dict)  # email, time_zone, traits, last_seen_at

    def deepest_action(self, config: ScoringConfig) -> str | None:
        scored = [a for a in self.actions if a in config.action_depth]
        return max(scored, key=lambda a: (config.action_depth[a], a)) if scored else None

    def as_context(self, config: ScoringConfig) -> dict[str, Any]:
        """The fact context the condition language reads (see conditions.FIELDS)."""
        return {
            "event": {"name": self.event_name, "action": self.event_action, "properties": dict(self.event_properties)},
            "session": {
                "duration_seconds": self.session_duration_seconds,
                "page_views": self.page_views,
                "product_views": self.product_views,
                "product_dwell_seconds": self.product_dwell_seconds,
                "deepest_action": self.deepest_action(config) or "",
                "categories": list(self.categories),
                "category": self.categories[0] if self.categories else "",
                "converted": self.converted,
                "last_event_at": self.session_last_event_at,
            },
            "contact": {
                **self.contact,
                "lifecycle_stage": self.lifecycle_stage,
                "past_categories": sorted(self.past_categories),
                "recent_downloads": self.recent_downloads,
            },
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "session_duration_seconds": self.session_duration_seconds,
            "product_dwell_seconds": self.product_dwell_seconds,
            "page_views": self.page_views,
            "product_views": self.product_views,
            "actions": sorted(self.actions),
            "categories": list(self.categories),
            "converted": self.converted,
            "session_last_event_at": self.session_last_event_at.isoformat() if self.session_last_event_at else None,
            "lifecycle_stage": self.lifecycle_stage,
            "past_categories": sorted(self.past_categories),
            "recent_downloads": self.recent_downloads,
            "event_name": self.event_name,
            "event_action": self.event_action,
            "event_properties": dict(self.event_properties),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, contact: Mapping[str, Any] | None = None) -> ScoringFacts:
        last = data.get("session_last_event_at")
        return cls(
            session_duration_seconds=float(data.get("session_duration_seconds", 0.0)),
            product_dwell_seconds=float(data.get("product_dwell_seconds", 0.0)),
            page_views=int(data.get("page_views", 0)),
            product_views=int(data.get("product_views", 0)),
            actions=frozenset(data.get("actions", ())),
            categories=tuple(data.get("categories", ())),
            converted=bool(data.get("converted", False)),
            session_last_event_at=datetime.fromisoformat(last) if last else None,
            lifecycle_stage=data.get("lifecycle_stage", ""),
            past_categories=frozenset(data.get("past_categories", ())),
            # Facts stored before the window was a setting call the count by its old name.
            recent_downloads=int(data.get("recent_downloads", data.get("downloads_last_14_days", 0))),
            event_name=data.get("event_name", ""),
            event_action=data.get("event_action", ""),
            event_properties=data.get("event_properties", {}),
            contact=contact or {},
        )


@dataclass(frozen=True, slots=True)
class ScoreLine:
    factor: str
    weight: float | None  # percent; None for context and decay lines
    sub_score: float | None
    contribution: float
    reason: str


@dataclass(frozen=True, slots=True)
class IntentScore:
    value: float
    tier: str
    lines: tuple[ScoreLine, ...]

    def as_json(self) -> list[dict[str, Any]]:
        return [
            {
                "factor": line.factor,
                "weight": line.weight,
                "sub_score": line.sub_score,
                "contribution": line.contribution,
                "reason": line.reason,
            }
            for line in self.lines
        ]


def interpolate(points: tuple[tuple[float, float], ...], x: float) -> float:
    """Piecewise-linear through the breakpoints, flat beyond the ends."""
    if x <= points[0][0]:
        return points[0][1]
    for (x1, y1), (x2, y2) in itertools.pairwise(points):
        if x <= x2:
            return y1 + (y2 - y1) * (x - x1) / (x2 - x1)
    return points[-1][1]


def intent_tier(value: float, config: ScoringConfig) -> str:
    if value >= config.high_threshold:
        return HIGH
    if value >= config.medium_threshold:
        return MEDIUM
    return LOW


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def factor_sub_scores(facts: ScoringFacts, config: ScoringConfig) -> dict[str, tuple[float, str]]:
    """Each factor's sub-score (0-100) with the facts behind it."""
    session_score = interpolate(config.session_time, facts.session_duration_seconds)
    dwell_score = interpolate(config.product_dwell, facts.product_dwell_seconds)
    if dwell_score > session_score:
        time = (dwell_score, f"{_minutes(facts.product_dwell_seconds)} on product pages")
    else:
        time = (session_score, f"session of {_minutes(facts.session_duration_seconds)}")

    deepest = facts.deepest_action(config)
    depth = (
        (config.action_depth[deepest], f"deepest action: {deepest.replace('_', ' ')}")
        if deepest
        else (
            0.0,
            "no funnel action yet",
        )
    )

    category = facts.categories[0] if facts.categories else None
    if category is None:
        relevance = (config.default_category, "no product category seen")
    else:
        base = config.categories.get(category.lower(), config.default_category)
        if category.lower() in facts.past_categories and config.past_category_bonus:
            relevance = (
                min(100.0, base + config.past_category_bonus),
                f"{category} (+{config.past_category_bonus:g}: seen in earlier sessions)",
            )
        else:
            relevance = (base, category)

    stage = facts.lifecycle_stage
    lifecycle = (
        (config.lifecycle[stage], stage.replace("_", " "))
        if stage in config.lifecycle
        else (config.unknown_stage, "stage unknown")
    )
    return {"time_spent": time, "action_depth": depth, "category_relevance": relevance, "lifecycle_stage": lifecycle}


def score_intent(facts: ScoringFacts, config: ScoringConfig, *, now: datetime, explain: bool = True) -> IntentScore:
    """The score, its tier and its lines. `explain=False` leaves the context lines' reasons short (what the
    rule did, not the facts that made it hold): for callers that keep only the value and tier."""
    lines: list[ScoreLine] = []
    for factor, (sub_score, reason) in factor_sub_scores(facts, config).items():
        weight = config.weights[factor]
        lines.append(
            ScoreLine(FACTOR_LABELS[factor], weight, round(sub_score, 1), round(weight * sub_score / 100, 2), reason)
        )
    total = sum(line.contribution for line in lines)

    context = facts.as_context(config)
    for rule in config.context_rules:
        # The quick verdict for every rule; the traced one, to say why, only for the few that hold.
        if not conditions.holds(rule.condition, context, now=now):
            continue
        why = ", ".join(deciding_facts(conditions.evaluate(rule.condition, context, now=now))) if explain else ""
        because = f": {why}" if why else ""
        if rule.adjust:
            change = max(-total, min(100 - total, rule.adjust))
            total += change
            lines.append(
                ScoreLine(f"Context: {rule.name}", None, None, round(change, 2), f"{rule.adjust:+g} points{because}")
            )
        if rule.cap is not None and total > rule.cap:
            lines.append(
                ScoreLine(
                    f"Context: {rule.name}", None, None, round(rule.cap - total, 2), f"capped at {rule.cap:g}{because}"
                )
            )
            total = rule.cap

    if facts.session_last_event_at is not None and now > facts.session_last_event_at:
        hours = (now - facts.session_last_event_at).total_seconds() / 3600
        remaining = 0.5 ** (hours / config.half_life_hours)
        faded = total * (1 - remaining)
        if faded >= 0.005:
            lines.append(
                ScoreLine(
                    "Decay",
                    None,
                    None,
                    round(-faded, 2),
                    f"last activity {hours:.1f} h ago; intent halves every {config.half_life_hours:g} h",
                )
            )
            total -= faded

    # The contributions were rounded for display; the score is their exact sum, so the explanation adds up.
    value = round(min(100.0, max(0.0, sum(line.contribution for line in lines))), 1)
    return IntentScore(value=value, tier=intent_tier(value, config), lines=tuple(lines))
