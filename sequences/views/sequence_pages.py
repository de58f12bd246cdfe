"""Sequence builder, segments, schedule and outbox pages. Steps are edited inline with htmx partials; every
view also works as a plain form post (the partial is just the same template fragment)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from sequences.enrolment import remove_step
from sequences.models import Account, Message, OutboxEmail, Segment, Sequence, Step
from sequences.scoring_forms import rule_fields
from sequences.sequence_forms import SegmentForm, SendingRulesForm, SequenceForm, StepForm
from sequences.sequence_rules import activation_problems
from triggerapp.roles import EDITOR, VIEWER, has_role, role_required


def _require_editor(request) -> None:
    if not has_role(request.user, EDITOR):
        raise PermissionDenied("Changing sequences needs the editor role.")


def _bump(sequence: Sequence) -> None:
    Sequence.objects.filter(pk=sequence.pk).update(version=sequence.version + 1, updated_at=timezone.now())
    sequence.version += 1


@role_required(VIEWER)
def sequence_list(request):
    form = SequenceForm(request.POST or None)
    if request.method == "POST":
        _require_editor(request)
        if form.is_valid():
            sequence = form.save()
            messages.success(request, f"“{sequence.name}” created as a draft: add its emails, then activate it.")
            return redirect("sequence-detail", pk=sequence.pk)
    sequences = Sequence.objects.annotate(
        step_count=Count("steps", distinct=True),
        active_enrolments=Count("enrolments", filter=Q(enrolments__status="active"), distinct=True),
    ).order_by("status", "name")
    sent = Counter(
        dict(
            Message.objects.filter(status=Message.Status.SENT)
            .values_list("enrolment__sequence")
            .annotate(n=Count("pk"))
            .values_list("enrolment__sequence", "n")
        )
    )
    for sequence in sequences:
        sequence.sent_count = sent.get(sequence.pk, 0)
    return render(request, "sequences/sequence_list.html", {"sequences": sequences, "form": form})


def _steps_context(sequence: Sequence, editing: int | None = None, form: StepForm | None = None) -> dict:
    steps = list(sequence.steps.order_by("position", "pk").prefetch_related("variants"))
    return {
        "sequence": sequence,
        "steps": steps,
        "editing": editing,
        "step_form": form,
        # Inside the steps partial, so inline edits refresh it.
        "problems": activation_problems(steps=steps, entry_trigger=sequence.entry_trigger),
    }


@role_required(VIEWER)
def sequence_detail(request, pk: int):
    sequence = get_object_or_404(Sequence, pk=pk)
    form = SequenceForm(request.POST or None, instance=sequence)
    if request.method == "POST":
        _require_editor(request)
        if form.is_valid():
            with transaction.atomic():
                form.save()
                _bump(sequence)
            messages.success(request, "Sequence saved.")
            return redirect("sequence-detail", pk=sequence.pk)
    context = {
        **_steps_context(sequence),
        "form": form,
        "enrolment_counts": dict(sequence.enrolments.values_list("status").annotate(n=Count("pk"))),
    }
    return render(request, "sequences/sequence_detail.html", context)


def _steps_response(request, sequence: Sequence, **extra) -> HttpResponse:
    if request.htmx:
        return render(request, "sequences/sequence_detail.html#steps", _steps_context(sequence, **extra))
    if extra.get("editing"):
        return _detail_page(request, sequence, **extra)
    return redirect("sequence-detail", pk=sequence.pk)


def _detail_page(request, sequence: Sequence, editing: int | None = None, form: StepForm | None = None):
    """The whole builder page (for plain form posts and links opened without htmx)."""
    context = {
        **_steps_context(sequence, editing, form),
        "form": SequenceForm(instance=sequence),
        "enrolment_counts": dict(sequence.enrolments.values_list("status").annotate(n=Count("pk"))),
    }
    return render(request, "sequences/sequence_detail.html", context)


@role_required(EDITOR)
@require_POST
def step_add(request, pk: int):
    sequence = get_object_or_404(Sequence, pk=pk)
    with transaction.atomic():
        position = sequence.steps.count()
        step = Step.objects.create(
            sequence=sequence,
            position=position,
            name=f"Email {position + 1}",
            delay_from=Step.DelayFrom.PREVIOUS if position else Step.DelayFrom.TRIGGER,
            delay_min_minutes=24 * 60 if position else 0,
            delay_max_minutes=48 * 60 if position else 0,
        )
        _bump(sequence)
    return _steps_response(request, sequence, editing=step.pk, form=StepForm(instance=step, prefix="step"))


@role_required(VIEWER)
def step_edit(request, pk: int, step_pk: int):
    sequence = get_object_or_404(Sequence, pk=pk)
    step = get_object_or_404(Step, pk=step_pk, sequence=sequence)
    if request.method == "POST":
        _require_editor(request)
        form = StepForm(request.POST, instance=step, prefix="step")
        if form.is_valid():
            with transaction.atomic():
                form.save()
                _bump(sequence)
            return _steps_response(request, sequence)
    else:
        form = StepForm(instance=step, prefix="step")
    return _steps_response(request, sequence, editing=step.pk, form=form)


@role_required(EDITOR)
@require_POST
def step_move(request, pk: int, step_pk: int):
    sequence = get_object_or_404(Sequence, pk=pk)
    steps = list(sequence.steps.order_by("position", "pk"))
    index = next((i for i, s in enumerate(steps) if s.pk == step_pk), None)
    target = index + (-1 if request.POST.get("direction") == "up" else 1) if index is not None else None
    if index is not None and 0 <= target < len(steps):
        steps[index], steps[target] = steps[target], steps[index]
        with transaction.atomic():
            for position, step in enumerate(steps):
                Step.objects.filter(pk=step.pk).update(position=position)
            _bump(sequence)
    return _steps_response(request, sequence)


@role_required(EDITOR)
@require_POST
def step_delete(request, pk: int, step_pk: int):
    sequence = get_object_or_404(Sequence, pk=pk)
    step = get_object_or_404(Step, pk=step_pk, sequence=sequence)
    with transaction.atomic():
        remove_step(step, now=timezone.now())
        _bump(sequence)
    return _steps_response(request, sequence)


@role_required(EDITOR)
@require_POST
def sequence_status(request, pk: int):
    sequence = get_object_or_404(Sequence, pk=pk)
    status = request.POST.get("status")
    if status not in Sequence.Status.values:
        messages.error(request, "Unknown status.")
    elif status == Sequence.Status.ACTIVE and (
        problems := activation_problems(
            steps=list(sequence.steps.prefetch_related("variants")), entry_trigger=sequence.entry_trigger
        )
    ):
        messages.error(request, "Not activated: " + " ".join(problems))
    else:
        sequence.status = status
        sequence.save(update_fields=["status", "updated_at"])
        messages.success(request, f"“{sequence.name}” is now {sequence.get_status_display().lower()}.")
    return redirect("sequence-detail", pk=sequence.pk)


@role_required(VIEWER)
def segment_list(request):
    return render(request, "sequences/segment_list.html", {"segments": Segment.objects.prefetch_related("sequences")})


@role_required(VIEWER)
def segment_edit(request, pk: int | None = None):
    segment = get_object_or_404(Segment, pk=pk) if pk else Segment()
    form = SegmentForm(request.POST or None, instance=segment)
    if request.method == "POST":
        _require_editor(request)
        if form.is_valid():
            form.save()
            messages.success(request, f"Segment “{segment.name}” saved.")
            return redirect("segment-list")
    return render(
        request, "sequences/segment_edit.html", {"form": form, "segment": segment, "rule_fields": rule_fields()}
    )


@role_required(VIEWER)
def schedule(request):
    """Upcoming sends for the next 48 hours, by hour."""
    now = timezone.now()
    upcoming = (
        Message.objects.filter(status=Message.Status.SCHEDULED, send_at__lt=now + timedelta(hours=48))
        .select_related("contact", "step", "enrolment__sequence")
        .order_by("send_at")
    )
    by_hour = Counter(max(message.send_at, now).replace(minute=0, second=0, microsecond=0) for message in upcoming)
    peak = max(by_hour.values(), default=0)
    hours = [(hour, by_hour[hour], round(100 * by_hour[hour] / peak) if peak else 0) for hour in sorted(by_hour)]
    context = {"hours": hours, "upcoming": upcoming[:200], "overdue": upcoming.filter(send_at__lt=now).count()}
    return render(request, "sequences/schedule.html", context)


@role_required(VIEWER)
def outbox(request):
    page = Paginator(OutboxEmail.objects.all(), 20).get_page(request.GET.get("page"))
    sent = Paginator(
        Message.objects.filter(status__in=["sent", "failed"])
        .select_related("contact", "enrolment__sequence", "step")
        .order_by("-sent_at", "-pk"),
        50,
    ).get_page(request.GET.get("sent_page"))
    return render(request, "sequences/outbox.html", {"page": page, "sent": sent})


@role_required(VIEWER)
def outbox_email(request, pk: int):
    email = get_object_or_404(OutboxEmail, pk=pk)
    return render(request, "sequences/outbox_email.html", {"email": email})


@role_required(VIEWER)
def sending_rules(request):
    form = SendingRulesForm(request.POST or None, instance=Account.current())
    if request.method == "POST":
        _require_editor(request)
        if form.is_valid():
            form.save()
            messages.success(request, "Sending rules saved: they apply to the next send decision.")
            return redirect("sending-rules")
    return render(request, "sequences/sending_rules.html", {"form": form})
