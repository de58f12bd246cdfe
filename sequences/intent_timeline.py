"""A contact's intent over time (pure): the scores recorded at its events, and the fading in between.

Scores are recorded when events arrive (ScoreHistory); between two events the score only fades, by the
half-life, from what it was at the earlier one. So the whole curve, and every tier change, including the ones
decay alone caused (high at 14:00, medium by 9:00 the next morning without a single event), follow from the
recorded points, the half-life and the tier thresholds. Nothing but the points needs storing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sequences.intent_scoring import HIGH, LOW, MEDIUM

# Points drawn along each stretch of fading: enough for a smooth curve at sparkline size.
SAMPLES_PER_GAP = 12


@dataclass(frozen=True, slots=True)
class ScorePoint:
    at: datetime
    score: float
    tier: str


@dataclass(frozen=True, slots=True)
class TierChange:
    at: datetime
    previous: str  # "" for the contact's first score
    tier: str
    faded: bool  # decay took it there, not an event


@dataclass(frozen=True, slots=True)
class IntentTimeline:
    samples: tuple[tuple[datetime, float], ...]  # (time, score), oldest first, ending now
    changes: tuple[TierChange, ...]  # oldest first


def faded_score(score: float, hours: float, half_life_hours: float) -> float:
    return score * 0.5 ** (max(0.0, hours) / half_life_hours)


def _hours(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 3600


_RANK = {LOW: 0, MEDIUM: 1, HIGH: 2}


def _fades(point: ScorePoint, until: datetime, half_life: float, high: float, medium: float) -> list[TierChange]:
    """The tier changes decay causes after `point` and before `until`: when it falls below each threshold."""
    changes, tier = [], point.tier
    for threshold, below in ((high, MEDIUM), (medium, LOW)):
        if point.score < threshold or threshold <= 0:
            continue
        # score * 0.5 ** (hours / half_life) = threshold  <=>  hours = half_life * log2(score / threshold)
        at = point.at + timedelta(hours=half_life * math.log2(point.score / threshold))
        # A point recorded under an older model's thresholds may already sit below this one.
        if at < until and _RANK[below] < _RANK.get(tier, 0):
            changes.append(TierChange(at, tier, below, faded=True))
            tier = below
    return changes


def intent_timeline(
    points: Sequence[ScorePoint], *, now: datetime, half_life_hours: float, high: float, medium: float
) -> IntentTimeline:
    """The curve from the first recorded point to `now`, and every tier change along it."""
    if not points:
        return IntentTimeline((), ())
    samples: list[tuple[datetime, float]] = []
    changes: list[TierChange] = []
    tier = ""
    for index, point in enumerate(points):
        if point.tier != tier:
            changes.append(TierChange(point.at, tier, point.tier, faded=False))
        until = points[index + 1].at if index + 1 < len(points) else max(now, point.at)
        fades = _fades(point, until, half_life_hours, high, medium)
        changes.extend(fades)
        tier = fades[-1].tier if fades else point.tier
        span = _hours(point.at, until)
        steps = SAMPLES_PER_GAP if span > 0 else 1
        samples.extend(
            (
                point.at + timedelta(hours=span * step / steps),
                faded_score(point.score, span * step / steps, half_life_hours),
            )
            for step in range(steps + (index + 1 == len(points)))
        )
    return IntentTimeline(tuple(samples), tuple(changes))


def sparkline_points(samples: Sequence[tuple[datetime, float]], *, width: int = 200, height: int = 40) -> str:
    """SVG polyline points, time across (oldest on the left, now on the right), score 0-100 up."""
    if not samples:
        return ""
    start, end = samples[0][0], samples[-1][0]
    span = (end - start).total_seconds() or 1.0
    return " ".join(
        f"{(at - start).total_seconds() / span * width:.1f},{height - score / 100 * height:.1f}"
        for at, score in samples
    )
