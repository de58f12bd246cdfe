"""The simulator's measurements (shell): what the app recorded, against the configured truth.

The same counts the dashboard would show, restricted to units whose outcome window closed by the end of the
run (a fixed horizon), next to the true lift for those very units.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from analytics.lift_statistics import Lift, lift
from analytics.simulation_driver import SimulationRun
from sequences.models import EmailEvent, ExperimentArm, Message


@dataclass(frozen=True, slots=True)
class LiftCheck:
    label: str
    result: Lift
    configured: float  # the configured true lift
    expected: float  # the true lift for these very units (treated ones not emailed convert at baseline)


def measure_conversion(run: SimulationRun) -> list[LiftCheck]:
    """Per segment: orders credited to any message of an enrolment, treated (not held out) against control.
    Only enrolments whose conversion window has closed by the end of the run count (a fixed horizon)."""
    window = timedelta(hours=run.config.conversion_window_hours)
    mature = {pk: t for pk, t in run.truth.items() if t.anchor + window <= run.end}
    converted = set(
        EmailEvent.objects.filter(kind=EmailEvent.Kind.CONVERSION, message__enrolment_id__in=list(mature))
        .values_list("message__enrolment_id", flat=True)
        .distinct()
    )
    checks = []
    for segment, truth in run.config.conversion.items():
        groups = {True: [], False: []}  # control?
        for pk, t in mature.items():
            if t.segment == segment:
                groups[t.control].append(pk)
        treated, control = groups[False], groups[True]
        if not treated or not control:
            continue
        x1, x2 = sum(pk in converted for pk in treated), sum(pk in converted for pk in control)
        p1 = sum(mature[pk].probability for pk in treated) / len(treated)
        p0 = sum(mature[pk].probability for pk in control) / len(control)
        expected = p1 / p0 - 1 if p0 else float("nan")
        checks.append(LiftCheck(segment, lift(x1, len(treated), x2, len(control)), truth.lift, expected))
    return checks


def measure_opens(run: SimulationRun) -> LiftCheck | None:
    """The timing experiment: human opens (privacy-proxy opens excluded) of the first cart email, window arm
    against "Send at once", among emails sent at least the open horizon before the end."""
    horizon = run.end - timedelta(hours=run.config.open_horizon_hours)
    rows = Message.objects.filter(
        pk__in=list(run.open_truth), experiment_arm__isnull=False, sent_at__lte=horizon
    ).values_list("pk", "experiment_arm__timing")
    arms: dict[bool, list[int]] = {True: [], False: []}
    for pk, timing in rows:
        arms[timing == ExperimentArm.Timing.WINDOW].append(pk)
    if not arms[True] or not arms[False]:
        return None
    opened = set(
        EmailEvent.objects.filter(
            kind=EmailEvent.Kind.OPEN, machine_open=False, message_id__in=arms[True] + arms[False]
        ).values_list("message_id", flat=True)
    )

    def mean_truth(pks):
        return sum(run.open_truth[pk] for pk in pks) / len(pks)

    window, at_once = arms[True], arms[False]
    result = lift(sum(pk in opened for pk in window), len(window), sum(pk in opened for pk in at_once), len(at_once))
    configured = run.config.window_open_multiplier - 1
    return LiftCheck(
        "Opens: engagement window vs send at once", result, configured, mean_truth(window) / mean_truth(at_once) - 1
    )
