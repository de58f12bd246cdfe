"""Experiments on a step (shell): the running experiment's arm for a contact, read once per step object."""

from __future__ import annotations

from sequences.experiment_arms import ArmRule, assign_arm
from sequences.models import Experiment, ExperimentArm, Step


def _running(step: Step) -> tuple[Experiment | None, list[ExperimentArm]]:
    # Cached on the step object: delivery and enrolment reuse step objects across many messages.
    cached = step.__dict__.get("_running_experiment")
    if cached is None:
        experiment = Experiment.objects.filter(step=step, status=Experiment.Status.RUNNING).first()
        cached = (experiment, list(experiment.arms.all()) if experiment else [])
        step.__dict__["_running_experiment"] = cached
    return cached


def arm_rule(arm: ExperimentArm | None) -> ArmRule | None:
    if arm is None:
        return None
    return ArmRule(arm.pk, arm.weight, arm.timing, arm.preferred_start, arm.preferred_end)


def experiment_arm(step: Step, contact_id: int) -> ExperimentArm | None:
    experiment, arms = _running(step)
    if experiment is None or not arms:
        return None
    chosen = assign_arm(experiment.pk, contact_id, [arm_rule(arm) for arm in arms])
    return next(arm for arm in arms if arm.pk == chosen.id) if chosen else None
