"""What a sequence needs before it may go live (pure): every problem, in the marketer's words."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sequences.models.intent import TriggerType


def _get(step: Any, name: str):
    return step.get(name) if isinstance(step, Mapping) else getattr(step, name, None)


def activation_problems(*, steps: Sequence[Any], entry_trigger: str) -> list[str]:
    problems = []
    if entry_trigger not in TriggerType.values:
        problems.append("Choose the trigger that starts the sequence.")
    if not steps:
        problems.append("Add at least one email.")
    for number, step in enumerate(steps, start=1):
        if not (_get(step, "subject") or "").strip():
            problems.append(f"Email {number} has no subject.")
        if not (_get(step, "body") or "").strip():
            problems.append(f"Email {number} has no body.")
        low, high = _get(step, "delay_min_minutes") or 0, _get(step, "delay_max_minutes") or 0
        if high and high < low:
            problems.append(f"Email {number}: the delay's end is before its start.")
        if (_get(step, "preferred_start") is None) != (_get(step, "preferred_end") is None):
            problems.append(f"Email {number}: give both ends of the engagement window, or neither.")
    return problems
