"""An intent scoring model's configuration (pure): its shape, the shipped defaults, and validation.

The defaults come from the source document: factor weights 30/25/25/20 and sub-score tables calibrated so that
"cart viewed" scores about 60, "cart abandoned + session > 5 min" about 90, and the DTC case study's deep
researcher about 94 against 52 for a casual browser (tests/sequences/test_intent_scoring.py shows it).
A configuration travels as JSON (stored on ScoringModel.config, edited in the UI and the API).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sequences import conditions

FACTORS = ("time_spent", "action_depth", "category_relevance", "lifecycle_stage")
FACTOR_LABELS = {
    "time_spent": "Time spent",
    "action_depth": "Action depth",
    "category_relevance": "Product-category relevance",
    "lifecycle_stage": "Lifecycle stage",
}
# The funnel actions events map to, shallow to deep (order only used for display).
ACTIONS = (
    "page_view",
    "product_viewed",
    "content_downloaded",
    "form_submitted",
    "cart_viewed",
    "product_added",
    "checkout_started",
    "order_completed",
)
# The facts a context rule can read: those ScoringFacts.as_context fills. A rule on product.* or trigger.* would
# be accepted and never hold, so parse_config refuses it and the rule builder does not offer it.
SCORING_FIELD_PREFIXES = ("event.", "session.", "contact.")
DEFAULT_REPEAT_DOWNLOAD_DAYS = 14
MAX_REPEAT_DOWNLOAD_DAYS = 365


@dataclass(frozen=True, slots=True)
class ContextRule:
    """`adjust` adds points (may be negative); `cap` limits the score; both only when `condition` holds."""

    name: str
    condition: Mapping[str, Any]
    adjust: float = 0.0
    cap: float | None = None


@dataclass(frozen=True, slots=True)
class ScoringConfig:
    weights: Mapping[str, float]  # percent per factor, totalling 100
    session_time: tuple[tuple[float, float], ...]  # (seconds, sub-score) breakpoints, linear between them
    product_dwell: tuple[tuple[float, float], ...]
    action_depth: Mapping[str, float]  # action -> sub-score of the deepest action in the session
    categories: Mapping[str, float]  # product category -> relevance
    default_category: float
    past_category_bonus: float  # added when the contact has shown interest in the category before
    lifecycle: Mapping[str, float]
    unknown_stage: float
    high_threshold: float
    medium_threshold: float
    half_life_hours: float  # intent fades: the score halves every this many hours after the session's last event
    # contact.recent_downloads counts the content downloads of this many days up to the event being scored
    repeat_download_days: int = DEFAULT_REPEAT_DOWNLOAD_DAYS
    context_rules: tuple[ContextRule, ...] = field(default_factory=tuple)


DEFAULT_CONFIG_JSON: dict[str, Any] = {
    "weights": {"time_spent": 30, "action_depth": 25, "category_relevance": 25, "lifecycle_stage": 20},
    "session_time": [[0, 0], [60, 10], [120, 25], [180, 40], [240, 55], [300, 75], [360, 100]],
    "product_dwell": [[0, 0], [60, 15], [180, 50], [300, 100]],
    "action_depth": {
        "page_view": 20,
        "product_viewed": 50,
        "content_downloaded": 55,
        "form_submitted": 60,
        "cart_viewed": 70,
        "product_added": 85,
        "checkout_started": 100,
        "order_completed": 100,
    },
    "categories": {"electronics": 90, "apparel": 70, "home": 65, "books": 50, "guide": 55, "blog": 30},
    "default_category": 50,
    "past_category_bonus": 10,
    "lifecycle": {
        "subscriber": 40,
        "lead": 55,
        "mql": 65,
        "sql": 75,
        "opportunity": 85,
        "customer": 80,
        "repeat_customer": 90,
        "lapsed": 30,
    },
    "unknown_stage": 45,
    "high_threshold": 75,
    "medium_threshold": 50,
    "half_life_hours": 24,
    "repeat_download_days": DEFAULT_REPEAT_DOWNLOAD_DAYS,
    "context_rules": [
        {
            "name": "Blog download by a mid-funnel contact is low intent",
            "condition": {
                "all": [
                    {"field": "event.action", "op": "eq", "value": "content_downloaded"},
                    {"field": "event.properties.content_type", "op": "eq", "value": "blog"},
                    {"field": "contact.lifecycle_stage", "op": "in", "value": ["mql", "sql", "opportunity"]},
                ]
            },
            "cap": 45,
        },
        {
            "name": "Repeat download signals higher intent",
            "condition": {
                "all": [
                    {"field": "event.action", "op": "eq", "value": "content_downloaded"},
                    {"field": "contact.recent_downloads", "op": "gte", "value": 2},
                ]
            },
            "adjust": 10,
        },
    ],
}


class ConfigError(ValueError):
    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


def _number(value: Any) -> bool:
    # Finite only: NaN and infinity cannot be stored as JSON (PostgreSQL's jsonb refuses them) nor compared.
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _score_table(data: Any, name: str, errors: list[str]) -> dict[str, float]:
    if not isinstance(data, Mapping):
        errors.append(f"{name}: must be an object of name -> score.")
        return {}
    table = {}
    for key, value in data.items():
        if not isinstance(key, str) or not key.strip():
            errors.append(f"{name}: names must be non-empty text.")
        elif not _number(value) or not 0 <= value <= 100:
            errors.append(f"{name}.{key}: score must be a number from 0 to 100.")
        else:
            table[key.strip().lower()] = float(value)
    return table


def _breakpoints(data: Any, name: str, errors: list[str]) -> tuple[tuple[float, float], ...]:
    if not isinstance(data, list) or not data:
        errors.append(f"{name}: must be a list of [seconds, score] pairs.")
        return ((0.0, 0.0),)
    points = []
    for index, pair in enumerate(data):
        if not (isinstance(pair, list | tuple) and len(pair) == 2 and all(_number(v) for v in pair)):
            errors.append(f"{name}[{index}]: must be [seconds, score].")
            continue
        seconds, score = pair
        if seconds < 0 or not 0 <= score <= 100:
            errors.append(f"{name}[{index}]: seconds must be ≥ 0 and the score from 0 to 100.")
            continue
        points.append((float(seconds), float(score)))
    points.sort()
    for (s1, v1), (s2, v2) in itertools.pairwise(points):
        if s1 == s2:
            errors.append(f"{name}: {s1:g} seconds appears twice.")
        if v2 < v1:
            errors.append(f"{name}: scores must not fall as time grows ({s1:g}s → {v1:g}, {s2:g}s → {v2:g}).")
    return tuple(points) or ((0.0, 0.0),)


def parse_config(data: Any, *, stored: bool = False) -> ScoringConfig:
    """Turn JSON into a ScoringConfig or raise ConfigError listing every problem."""
    errors: list[str] = []
    if not isinstance(data, Mapping):
        raise ConfigError(["The configuration must be an object."])
    weights_data = data.get("weights")
    weights: dict[str, float] = {}
    if not isinstance(weights_data, Mapping) or set(weights_data) != set(FACTORS):
        errors.append(f"weights: give exactly these factors: {', '.join(FACTORS)}.")
    else:
        for factor in FACTORS:
            value = weights_data[factor]
            if not _number(value) or value < 0:
                errors.append(f"weights.{factor}: must be a percentage ≥ 0.")
            else:
                weights[factor] = float(value)
        if len(weights) == len(FACTORS) and abs(sum(weights.values()) - 100) > 1e-6:
            errors.append(f"weights: must total 100%, not {sum(weights.values()):g}%.")
    action_depth = _score_table(data.get("action_depth"), "action_depth", errors)
    unknown_actions = set(action_depth) - set(ACTIONS)
    if unknown_actions:
        errors.append(f"action_depth: unknown action(s) {', '.join(sorted(unknown_actions))}.")
    scalars = {}
    for name in ("default_category", "past_category_bonus", "unknown_stage", "high_threshold", "medium_threshold"):
        value = data.get(name)
        if not _number(value) or not 0 <= value <= 100:
            errors.append(f"{name}: must be a number from 0 to 100.")
            value = 0
        scalars[name] = float(value)
    if scalars["medium_threshold"] >= scalars["high_threshold"]:
        errors.append("Tiers: the medium threshold must be below the high threshold.")
    half_life = data.get("half_life_hours")
    if not _number(half_life) or half_life <= 0:
        errors.append("half_life_hours: must be a number of hours above 0.")
        half_life = 24
    # Absent in configurations saved before it was a setting: they counted 14 days.
    repeat_days = data.get("repeat_download_days", DEFAULT_REPEAT_DOWNLOAD_DAYS)
    if not _number(repeat_days) or repeat_days != int(repeat_days) or not 1 <= repeat_days <= MAX_REPEAT_DOWNLOAD_DAYS:
        errors.append(f"repeat_download_days: must be a whole number of days from 1 to {MAX_REPEAT_DOWNLOAD_DAYS}.")
        repeat_days = DEFAULT_REPEAT_DOWNLOAD_DAYS
    rules = []
    rules_data = data.get("context_rules", [])
    if not isinstance(rules_data, list):
        errors.append("context_rules: must be a list.")
        rules_data = []
    for index, rule in enumerate(rules_data):
        where = f"context_rules[{index}]"
        if not isinstance(rule, Mapping):
            errors.append(f"{where}: must be an object.")
            continue
        name = rule.get("name")
        if not isinstance(name, str) or not name.strip():
            errors.append(f"{where}.name: give the rule a name.")
        # A version saved before rules were limited to the facts scoring fills may read others (they never hold):
        # it must still load, or ingest would stop at the first batch. New configurations are held to the limit.
        prefixes = None if stored else SCORING_FIELD_PREFIXES
        problems = conditions.validate(rule.get("condition"), prefixes=prefixes, context="when scoring")
        errors.extend(f"{where}.condition: {problem}" for problem in problems)
        adjust, cap = rule.get("adjust", 0), rule.get("cap")
        if not _number(adjust) or not -100 <= adjust <= 100:
            errors.append(f"{where}.adjust: must be a number of points from -100 to 100.")
            adjust = 0
        if cap is not None and (not _number(cap) or not 0 <= cap <= 100):
            errors.append(f"{where}.cap: must be a score from 0 to 100.")
            cap = None
        if adjust == 0 and cap is None:
            errors.append(f"{where}: set `adjust` or `cap`, or the rule does nothing.")
        rules.append(ContextRule(str(name or "").strip(), rule.get("condition") or {}, float(adjust), cap))
    config = ScoringConfig(
        weights=weights,
        session_time=_breakpoints(data.get("session_time"), "session_time", errors),
        product_dwell=_breakpoints(data.get("product_dwell"), "product_dwell", errors),
        action_depth=action_depth,
        categories=_score_table(data.get("categories"), "categories", errors),
        default_category=scalars["default_category"],
        past_category_bonus=scalars["past_category_bonus"],
        lifecycle=_score_table(data.get("lifecycle"), "lifecycle", errors),
        unknown_stage=scalars["unknown_stage"],
        high_threshold=scalars["high_threshold"],
        medium_threshold=scalars["medium_threshold"],
        half_life_hours=float(half_life),
        repeat_download_days=int(repeat_days),
        context_rules=tuple(rules),
    )
    if errors:
        raise ConfigError(errors)
    return config


def default_config() -> ScoringConfig:
    return parse_config(DEFAULT_CONFIG_JSON)
