"""Lift report (shell): read the rollups for a period and a filter, group them, and compute lift per group.

Conversion lift compares enrolments in the sequence with the randomised holdout (withheld) of the same sequence,
intention to treat: every enrolment counts, whether or not its emails were all sent. Open and click lift compare
the arms of an experiment on a step with that experiment's baseline arm, over sent messages.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from django.db.models import Sum

from analytics.lift_statistics import Lift, lift
from analytics.models import DailyStats
from sequences.models import ExperimentArm, Segment, Sequence, Step

METRICS = ("conversion", "open", "click")
GROUPINGS = ("segment", "sequence", "step", "variant")
EXPECTED = re.compile(r"([+-]?\d+(?:\.\d+)?)\s*%\s*(.*)")


@dataclass(frozen=True, slots=True)
class ReportFilter:
    since: date | None = None
    until: date | None = None
    sequence_id: int | None = None
    segment_id: int | None = None
    human_opens_only: bool = True  # privacy proxies open every email: leave them out unless asked

    def apply(self, rows):
        """These filters on a rollup query set (both rollup tables have day, sequence_id and segment_id)."""
        if self.since:
            rows = rows.filter(day__gte=self.since)
        if self.until:
            rows = rows.filter(day__lte=self.until)
        if self.sequence_id:
            rows = rows.filter(sequence_id=self.sequence_id)
        if self.segment_id:
            rows = rows.filter(segment_id=self.segment_id)
        return rows

    def rows(self):
        return self.apply(DailyStats.objects.all())


@dataclass(frozen=True, slots=True)
class LiftRow:
    group: str
    result: Lift
    expected_lift: float | None = None  # what the marketer expects (the segment's note), as a fraction

    def as_dict(self) -> dict:
        r = self.result
        return {
            "group": self.group,
            "treated_n": r.treated.trials,
            "control_n": r.control.trials,
            "treated_rate": r.treated.rate,
            "control_rate": r.control.rate,
            "lift": r.lift,
            "ci_low": r.ci_low,
            "ci_high": r.ci_high,
            "p_value": r.p_value,
            "always_valid_p": r.always_valid_p,
            "enough_data": r.enough_data,
            "note": r.note,
            "expected_lift": self.expected_lift,
        }


class Labels:
    """Names for the ids in the rollups, read once per report."""

    def __init__(self):
        self.sequences = dict(Sequence.objects.values_list("pk", "name"))
        self.segments = {s.pk: s for s in Segment.objects.all()}
        self.steps = {s.pk: s for s in Step.all_objects.all()}
        self.arms = {a.pk: a for a in ExperimentArm.objects.select_related("experiment")}

    def group(self, row: dict, group_by: str) -> str:
        if group_by == "segment":
            segment = self.segments.get(row["segment_id"])
            return segment.name if segment else "No segment"
        sequence = self.sequences.get(row["sequence_id"], f"Sequence {row['sequence_id']}")
        if group_by == "sequence":
            return sequence
        step = self.steps.get(row["step_id"])
        step_name = f"email {row['step_position'] + 1}" + (f" ({step.name})" if step else "")
        if group_by == "step":
            return f"{sequence} · {step_name}"
        return f"{sequence} · {step_name} · {row['variant'] or 'no variant'}"

    def expected(self, group: str, metric: str, group_by: str) -> float | None:
        """The segment's expected lift, when it is about this metric ("+38% open rate", "+29% conversion")."""
        if group_by != "segment":
            return None
        segment = next((s for s in self.segments.values() if s.name == group), None)
        match = EXPECTED.match(segment.expected_lift.strip()) if segment else None
        if not match:
            return None
        about = match.group(2).lower()
        words = {"open": ("open",), "click": ("click",), "conversion": ("conversion", "reactivation", "purchase")}
        return float(match.group(1)) / 100 if any(word in about for word in words[metric]) else None


def lift_report(metric: str, group_by: str, report_filter: ReportFilter, labels: Labels | None = None) -> list[LiftRow]:
    if metric not in METRICS or group_by not in GROUPINGS:
        raise ValueError("unknown metric or grouping")
    labels = labels or Labels()
    fields = ["sequence_id", "segment_id", "step_id", "step_position", "variant", "arm_id", "control"]
    counts = ["enrolments", "enrolments_converted", "messages", "opened", "opened_human", "clicked"]
    # Summed over the days in SQL: the page reads one row per group and arm, not one per day.
    rows = report_filter.rows().values(*fields).annotate(**{name: Sum(name) for name in counts}).order_by()
    if metric == "conversion":
        return _conversion_rows(rows, group_by, labels)
    success = "clicked" if metric == "click" else ("opened_human" if report_filter.human_opens_only else "opened")
    return _arm_rows(rows, group_by, labels, success, metric)


def _conversion_rows(rows, group_by: str, labels: Labels) -> list[LiftRow]:
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # treated x, n, control x, n
    for row in rows:
        if not row["enrolments"]:
            continue
        cell = totals[labels.group(row, group_by)]
        offset = 2 if row["control"] else 0
        cell[offset] += row["enrolments_converted"]
        cell[offset + 1] += row["enrolments"]
    return [
        LiftRow(group, lift(*cell), labels.expected(group, "conversion", group_by))
        for group, cell in sorted(totals.items())
    ]


def _arm_rows(rows, group_by: str, labels: Labels, success: str, metric: str) -> list[LiftRow]:
    # (group, experiment) -> arm -> [successes, messages]
    arms: dict[tuple[str, int], dict[int, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for row in rows:
        arm = labels.arms.get(row["arm_id"])
        if arm is None or row["control"] or not row["messages"]:
            continue
        cell = arms[(labels.group(row, group_by), arm.experiment_id)][arm.pk]
        cell[0] += row[success]
        cell[1] += row["messages"]
    result = []
    for (group, _experiment), by_arm in sorted(arms.items()):
        baseline = next((labels.arms[pk] for pk in by_arm if labels.arms[pk].is_baseline), None)
        if baseline is None:
            continue
        control = by_arm[baseline.pk]
        for pk, treated in sorted(by_arm.items()):
            if pk == baseline.pk:
                continue
            name = f"{group} · {labels.arms[pk].name} vs {baseline.name}"
            result.append(
                LiftRow(
                    name, lift(treated[0], treated[1], control[0], control[1]), labels.expected(group, metric, group_by)
                )
            )
    return result
