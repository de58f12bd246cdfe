"""The simulator's ground truth (pure): the effects it builds into simulated people, and how they behave.

Every number here is something the analytics should recover. Defaults follow the source document where it gives
one (+38% opens in the engagement window, +29% conversion for downloaders, +22% reactivation for lapsed users)
and the issue's example (high-intent abandoners convert 10% without an email and 14% with one). A JSON file
(`simulate --config file.json`) overrides any of them; see docs/simulator.md for the format.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import time
from pathlib import Path
from typing import Any

PERSONAS = ("shopper", "buyer", "researcher", "browser")


@dataclass(frozen=True, slots=True)
class ConversionTruth:
    """P(order within the conversion window) for one segment, without and with the email."""

    baseline: float  # the control group (messages withheld), and treated enrolments whose first email never went
    emailed: float  # treated enrolments whose first email was sent

    @property
    def lift(self) -> float:
        return self.emailed / self.baseline - 1 if self.baseline else math.nan


def _default_conversion() -> dict[str, ConversionTruth]:
    # Keyed by the segment the app put the enrolment in, so a lift measured per segment has one true value.
    return {
        "High-Intent Abandoners": ConversionTruth(0.10, 0.14),
        "Other Abandoners": ConversionTruth(0.04, 0.05),
        "Mid-Funnel Downloaders": ConversionTruth(0.05, 0.0645),
        "Lapsed Users": ConversionTruth(0.03, 0.0366),
    }


def _default_time_zones() -> dict[str, float]:
    # Roughly where a European/North American web shop's visitors are, with a long tail elsewhere.
    return {
        "America/New_York": 0.22,
        "America/Chicago": 0.10,
        "America/Los_Angeles": 0.14,
        "Europe/London": 0.15,
        "Europe/Berlin": 0.14,
        "Asia/Kolkata": 0.07,
        "Asia/Tokyo": 0.06,
        "Australia/Sydney": 0.06,
        "America/Sao_Paulo": 0.06,
    }


def _default_personas() -> dict[str, float]:
    # shopper: leaves one cart behind; buyer: buys in the session; researcher: downloads guides (B2B stages);
    # browser: looks at products only.
    return {"shopper": 0.45, "buyer": 0.10, "researcher": 0.20, "browser": 0.25}


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    # --- ground truth: conversion -------------------------------------------------------------------------------
    conversion: dict[str, ConversionTruth] = field(default_factory=_default_conversion)
    conversion_window_hours: float = 72.0  # orders come within this after the first email (or its withheld twin)
    conversion_delay_hours: float = 20.0  # mean delay to the order (exponential, cut at the window)
    # --- ground truth: email engagement ------------------------------------------------------------------------
    open_rate: float = 0.21  # P(a person opens): "Send at once" arm, and sends outside the window elsewhere
    window_open_multiplier: float = 1.38  # "Engagement window" arm; elsewhere, sends in local 19:00-21:00
    open_delay_hours: float = 3.0  # mean delay from delivery to a person's open
    open_horizon_hours: float = 48.0  # nobody opens later than this; open rates are measured over it
    click_given_open: float = 0.22
    proxy_share: float = 0.10  # recipients behind a privacy proxy: one machine open at delivery, human opens hidden
    unsubscribe_given_open: float = 0.004
    # --- app set-up ------------------------------------------------------------------------------------------------
    holdout_percent: int = 30  # every default sequence's control group
    engagement_window: tuple[str, str] = ("19:00", "21:00")  # the experiment's window arm, local time
    quiet_hours: tuple[str, str] = ("21:00", "08:00")  # the account's (the demo's defaults)
    # --- behaviour -------------------------------------------------------------------------------------------------
    personas: dict[str, float] = field(default_factory=_default_personas)
    time_zones: dict[str, float] = field(default_factory=_default_time_zones)
    sessions_per_day: float = 0.35  # return visits while a person is active
    high_intent_share: float = 0.55  # cart sessions that are long and deep (the app scores them high)
    lapse_share: float = 0.30  # people who visit for a day or two early on and then never again
    identify_share: float = 0.90  # people who give their email address (the others stay anonymous)
    tick_minutes: int = 10  # simulated beat interval while anything happens; idle stretches are skipped

    def __post_init__(self):
        problems = []
        for name, truth in self.conversion.items():
            if not (0 <= truth.baseline <= 1 and 0 <= truth.emailed <= 1):
                problems.append(f"conversion[{name!r}]: probabilities must lie in [0, 1]")
        for name in ("open_rate", "click_given_open", "proxy_share", "unsubscribe_given_open", "high_intent_share"):
            if not 0 <= getattr(self, name) <= 1:
                problems.append(f"{name} must lie in [0, 1]")
        for name in ("lapse_share", "identify_share"):
            if not 0 <= getattr(self, name) <= 1:
                problems.append(f"{name} must lie in [0, 1]")
        if self.open_rate * self.window_open_multiplier > 1:
            problems.append("open_rate * window_open_multiplier must not exceed 1")
        if not 0 <= self.holdout_percent <= 100:
            problems.append("holdout_percent must lie in 0-100")
        if self.tick_minutes < 1:
            problems.append("tick_minutes must be at least 1")
        if set(self.personas) - set(PERSONAS) or not any(w > 0 for w in self.personas.values()):
            problems.append(f"personas: weights for {', '.join(PERSONAS)}")
        for name in ("engagement_window", "quiet_hours"):
            try:
                [time.fromisoformat(t) for t in getattr(self, name)]
            except (TypeError, ValueError):
                problems.append(f"{name} must be two HH:MM times")
        if problems:
            raise ValueError("; ".join(problems))

    def window(self) -> tuple[time, time]:
        start, end = self.engagement_window
        return time.fromisoformat(start), time.fromisoformat(end)

    def quiet(self) -> tuple[time, time]:
        start, end = self.quiet_hours
        return time.fromisoformat(start), time.fromisoformat(end)

    def in_window(self, local_hour: int) -> bool:
        start, end = self.window()
        return start.hour <= local_hour < end.hour

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def config_from_json(data: dict[str, Any], base: SimulationConfig | None = None) -> SimulationConfig:
    """Overrides on top of `base` (the defaults). `conversion` entries replace single segments; the other
    mappings (personas, time_zones) are replaced whole. Unknown keys are an error, so a typo cannot be ignored."""
    base = base or SimulationConfig()
    known = {f.name for f in fields(SimulationConfig)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
    changes = dict(data)
    if "conversion" in changes:
        conversion = dict(base.conversion)
        for segment, truth in changes["conversion"].items():
            try:
                conversion[segment] = ConversionTruth(float(truth["baseline"]), float(truth["emailed"]))
            except (KeyError, TypeError, ValueError):
                raise ValueError(f"conversion[{segment!r}] needs numbers for baseline and emailed") from None
        changes["conversion"] = conversion
    for name in ("engagement_window", "quiet_hours"):
        if name in changes:
            changes[name] = tuple(changes[name])
    return replace(base, **changes)


def load_config(path: str | Path | None) -> SimulationConfig:
    if path is None:
        return SimulationConfig()
    return config_from_json(json.loads(Path(path).read_text()))
