"""Experiment arms (pure): which arm a contact is in, and what a timing arm does to the send window.

The arm comes from a hash of (experiment, contact), so it is random with respect to anything about the contact,
stable across the contact's enrolments and steps, and reproducible in a rebuild or an audit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import time

from sequences.send_timing import LocalHours, SendWindow


@dataclass(frozen=True, slots=True)
class ArmRule:
    id: int
    weight: int
    timing: str = ""  # "", "at_once" or "window"
    preferred_start: time | None = None
    preferred_end: time | None = None


def assign_arm(experiment_id: int, contact_id: int, arms: Sequence[ArmRule]) -> ArmRule | None:
    total = sum(max(arm.weight, 0) for arm in arms)
    if not arms or total <= 0:
        return None
    digest = hashlib.sha256(f"experiment:{experiment_id}:{contact_id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") % total
    for arm in sorted(arms, key=lambda a: a.id):
        point -= max(arm.weight, 0)
        if point < 0:
            return arm
    raise AssertionError("unreachable: the weights add up to total")


def arm_window(window: SendWindow, arm: ArmRule | None) -> SendWindow:
    """A timing arm either drops the preferred hours (send as soon as the delay allows) or sets its own."""
    if arm is None or not arm.timing:
        return window
    if arm.timing == "at_once":
        return replace(window, preferred_hours=None)
    if arm.preferred_start is not None and arm.preferred_end is not None:
        return replace(window, preferred_hours=LocalHours(arm.preferred_start, arm.preferred_end))
    return window
