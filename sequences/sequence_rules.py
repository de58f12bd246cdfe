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
        variants = _get(step, "variants") or []
        if hasattr(variants, "all"):  # a model's related manager
            variants = list(variants.all())
        defaults = [v for v in variants if _get(v, "is_default")]
        if not defaults:
            problems.append(f"Email {number} needs a default copy variant (it catches everyone the others miss).")
        for variant in variants:
            if not (_get(variant, "subject") or "").strip():
                problems.append(f"Email {number}: variant “{_get(variant, 'name')}” has no subject.")
        low, high = _get(step, "delay_min_minutes") or 0, _get(step, "delay_max_minutes") or 0
        if high and high < low:
            problems.append(f"Email {number}: the delay's end is before its start.")
        if (_get(step, "preferred_start") is None) != (_get(step, "preferred_end") is None):
            problems.append(f"Email {number}: give both ends of the engagement window, or neither.")
    return problems
