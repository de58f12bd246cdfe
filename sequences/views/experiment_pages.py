"""Experiments on a step: start a send-time or copy test, see how contacts split between the arms, stop it."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from sequences.experiment_forms import ExperimentForm
from sequences.models import Experiment, ExperimentArm, Sequence, Step
from triggerapp.roles import EDITOR, VIEWER, has_role, role_required


@role_required(VIEWER)
def step_experiments(request, pk: int, step_pk: int):
    sequence = get_object_or_404(Sequence, pk=pk)
    step = get_object_or_404(Step, pk=step_pk, sequence=sequence)
    form = ExperimentForm(request.POST or None, step=step)
    if request.method == "POST":
        if not has_role(request.user, EDITOR):
            raise PermissionDenied("Starting experiments needs the editor role.")
        if form.is_valid():
            experiment = form.save()
            messages.success(request, f"“{experiment.name}” is running: new emails of this step are split by arm.")
            return redirect("step-experiments", pk=sequence.pk, step_pk=step.pk)
    arms = (
        ExperimentArm.objects.filter(experiment__step=step)
        .select_related("experiment", "copy_variant")
        .annotate(
            assigned=Count("messages"),
            sent=Count("messages", filter=Q(messages__status="sent")),
        )
    )
    experiments = list(Experiment.objects.filter(step=step))
    for experiment in experiments:
        experiment.arm_rows = [arm for arm in arms if arm.experiment_id == experiment.pk]
    context = {"sequence": sequence, "step": step, "form": form, "experiments": experiments}
    return render(request, "sequences/step_experiments.html", context, status=422 if form.errors else 200)


@role_required(EDITOR)
@require_POST
def experiment_stop(request, pk: int, step_pk: int, experiment_pk: int):
    experiment = get_object_or_404(
        Experiment, pk=experiment_pk, step_id=step_pk, step__sequence_id=pk, status=Experiment.Status.RUNNING
    )
    experiment.status, experiment.stopped_at = Experiment.Status.STOPPED, timezone.now()
    experiment.save(update_fields=["status", "stopped_at"])
    messages.success(request, f"“{experiment.name}” stopped: new emails go out as the step says; results stay.")
    return redirect("step-experiments", pk=pk, step_pk=step_pk)
