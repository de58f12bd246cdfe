"""Enrolment (shell): fired triggers -> enrolments in matching active sequences -> scheduled messages.

Runs from a beat task every few seconds (the tracking API knows nothing of Celery). Sequence definitions are
read when a message is scheduled; enrolments record the sequence version they started under (docs/sequences.md
says what an edit does to enrolments under way).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.db.models import Q

from sequences import conditions
from sequences.copy_rendering import contact_copy_facts, withheld_copy
from sequences.experiment_arms import arm_window
from sequences.experiments import arm_rule, experiment_arm
from sequences.intent import contact_fact_context
from sequences.models import Account, Contact, Enrolment, Message, Segment, Sequence, Step, TriggerOccurrence
from sequences.send_timing import LocalHours, SendWindow, compute_send_time

BATCH = 200
# A trigger found long after it happened (a historical /v1/import, a backlog) must not start emails about it now.
STALE_AFTER = timedelta(hours=48)


# --- pure helpers -----------------------------------------------------------------------------------------------


def holdout_bucket(sequence_id: int, contact_id: int) -> int:
    """0-99, fixed for a contact in a sequence: the same person is always on the same side of the holdout."""
    digest = hashlib.sha256(f"holdout:{sequence_id}:{contact_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100


def enrolment_key(trigger_type: str, trigger_key: str, facts: dict) -> str:
    """Cart enrolments are keyed by the cart: buying it exits, a new cart is a new enrolment."""
    cart = facts.get("cart_id")
    return f"cart:{cart}" if trigger_type == "cart_abandoned" and cart else trigger_key


def segment_facts(occurrence: TriggerOccurrence, contact: Contact) -> dict:
    session = contact.intent_facts or {}
    return {
        "trigger": {"type": occurrence.type, "occurred_at": occurrence.occurred_at, **occurrence.facts},
        "score": {"value": occurrence.score, "tier": occurrence.tier},
        "contact": {**contact_fact_context(contact), "lifecycle_stage": contact.lifecycle_stage},
        "session": {
            "duration_seconds": session.get("session_duration_seconds", 0),
            "product_dwell_seconds": session.get("product_dwell_seconds", 0),
            "categories": session.get("categories", []),
            "category": (session.get("categories") or [""])[0],
        },
    }


def _hours(start, end) -> LocalHours | None:
    return LocalHours(start, end) if start is not None and end is not None else None


def step_window(step: Step, segment: Segment | None) -> SendWindow:
    if step.delay_from == Step.DelayFrom.SEGMENT and segment is not None:
        return SendWindow(
            timedelta(minutes=segment.delay_min_minutes),
            timedelta(minutes=segment.delay_max_minutes),
            _hours(segment.preferred_start, segment.preferred_end) or _hours(step.preferred_start, step.preferred_end),
        )
    return SendWindow(
        timedelta(minutes=step.delay_min_minutes),
        timedelta(minutes=max(step.delay_min_minutes, step.delay_max_minutes)),
        _hours(step.preferred_start, step.preferred_end),
    )


def contact_zone(contact: Contact, account: Account) -> ZoneInfo:
    try:
        return ZoneInfo(contact.time_zone or account.time_zone)
    except (ValueError, KeyError):
        return ZoneInfo("UTC")


# --- shell --------------------------------------------------------------------------------------------------------


def enrol_pending_triggers(*, now: datetime) -> int:
    """Match fired, not yet checked trigger occurrences to active sequences. Returns enrolments made."""
    account = Account.current()
    made = 0
    while True:
        with transaction.atomic():
            pending = list(
                TriggerOccurrence.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("contact")
                .filter(status=TriggerOccurrence.Status.FIRED, enrolment_checked=False)
                .order_by("detected_at")[:BATCH]
            )
            if not pending:
                return made
            sequences = _active_sequences({o.type for o in pending})
            for occurrence in pending:
                for sequence in sequences.get(occurrence.type, []):
                    if _enrol(occurrence, sequence, account, now=now):
                        made += 1
            TriggerOccurrence.objects.filter(pk__in=[o.pk for o in pending]).update(enrolment_checked=True)


def _active_sequences(types: set[str]) -> dict[str, list[Sequence]]:
    by_type: dict[str, list[Sequence]] = {}
    query = Sequence.objects.filter(status=Sequence.Status.ACTIVE, entry_trigger__in=types).prefetch_related(
        "segments", "steps"
    )
    for sequence in query:
        by_type.setdefault(sequence.entry_trigger, []).append(sequence)
    return by_type


def _enrol(occurrence: TriggerOccurrence, sequence: Sequence, account: Account, *, now: datetime) -> bool:
    if now - occurrence.occurred_at > STALE_AFTER:
        return False
    contact = occurrence.contact
    steps = sorted(sequence.steps.all(), key=lambda s: (s.position, s.pk))
    if not steps:
        return False
    facts = segment_facts(occurrence, contact)
    segments = sorted(sequence.segments.all(), key=lambda s: (s.position, s.pk))
    segment = next((s for s in segments if conditions.evaluate(s.condition, facts, now=now).result), None)
    if segments and segment is None:
        return False
    key = enrolment_key(occurrence.type, occurrence.key, occurrence.facts)
    mine = Enrolment.objects.filter(sequence=sequence, contact=contact)
    if key.startswith("cart:"):
        # A new cart enrols whatever came before; the same cart abandoned again in a later visit (a trigger of
        # its own since carts are abandoned once per session) is a re-entry, which the sequence's rules decide.
        previous = mine.filter(trigger__facts__cart_id=occurrence.facts["cart_id"]).order_by("-enrolled_at").first()
        if previous is not None:
            if previous.trigger_id == occurrence.pk:
                return False  # this very abandonment is enrolled already
            key = f"{key}:{occurrence.pk}"
    else:
        previous = mine.order_by("-enrolled_at").first()
    if previous is not None:
        if not sequence.allow_reentry:
            return False
        if occurrence.occurred_at - previous.enrolled_at < timedelta(days=sequence.reentry_after_days):
            return False
    try:
        with transaction.atomic():
            enrolment = Enrolment.objects.create(
                contact=contact,
                sequence=sequence,
                sequence_version=sequence.version,
                segment=segment,
                trigger=occurrence,
                key=key,
                held_out=holdout_bucket(sequence.pk, contact.pk) < sequence.holdout_percent,
                enrolled_at=now,
                score=occurrence.score,
                tier=occurrence.tier,
            )
    except IntegrityError:
        return False  # the same cart (or occurrence) is already enrolled
    if key.startswith("cart:"):
        # A newer cart supersedes an older one still under way in this sequence.
        for older in Enrolment.objects.filter(
            sequence=sequence, contact=contact, status=Enrolment.Status.ACTIVE
        ).exclude(pk=enrolment.pk):
            exit_enrolment(older, reason="a newer cart started a new enrolment", now=now)
    zone = contact_zone(contact, account)
    quiet = LocalHours(account.quiet_hours_start, account.quiet_hours_end)
    if enrolment.held_out:
        # The control group: every step is computed and kept as withheld, never sent, so lift can be measured.
        anchor = occurrence.occurred_at
        copy_facts = contact_copy_facts(contact, occurrence, account)  # the same for every step: read once
        for step in steps:
            arm = experiment_arm(step, contact.pk)
            timing = compute_send_time(
                anchor=_anchor(step, occurrence, anchor),
                window=arm_window(step_window(step, segment), arm_rule(arm)),
                zone=zone,
                quiet_hours=quiet,
                now=now,
            )
            Message.objects.create(
                enrolment=enrolment,
                step=step,
                contact=contact,
                status=Message.Status.WITHHELD,
                send_at=timing.send_at,
                priority=occurrence.score,
                timing_reasons=list(timing.reasons),
                reason=f"control group ({sequence.holdout_percent}% holdout)",
                experiment_arm=arm,
                local_hour=timing.send_at.astimezone(zone).hour,
                # The variant this contact would have got, so lift can be read per variant too.
                **withheld_copy(step, copy_facts, now=occurrence.occurred_at),
            )
            anchor = timing.send_at
        enrolment.status = Enrolment.Status.COMPLETED
        enrolment.save(update_fields=["status"])
        return True
    schedule_step(enrolment, steps[0], anchor=occurrence.occurred_at, account=account, now=now)
    return True


def _anchor(step: Step, occurrence: TriggerOccurrence, previous_send: datetime) -> datetime:
    return previous_send if step.delay_from == Step.DelayFrom.PREVIOUS else occurrence.occurred_at


def schedule_step(enrolment: Enrolment, step: Step, *, anchor: datetime, account: Account, now: datetime) -> Message:
    message = step_message(enrolment, step, anchor=anchor, account=account, now=now)
    message.save()
    return message


def step_message(enrolment: Enrolment, step: Step, *, anchor: datetime, account: Account, now: datetime) -> Message:
    """The (unsaved) message for `step`, its send time computed from the anchor."""
    trigger_time = enrolment.trigger.occurred_at if enrolment.trigger else anchor
    arm = experiment_arm(step, enrolment.contact_id)
    timing = compute_send_time(
        anchor=anchor if step.delay_from == Step.DelayFrom.PREVIOUS else trigger_time,
        window=arm_window(step_window(step, enrolment.segment), arm_rule(arm)),
        zone=contact_zone(enrolment.contact, account),
        quiet_hours=LocalHours(account.quiet_hours_start, account.quiet_hours_end),
        now=now,
    )
    return Message(
        enrolment=enrolment,
        step=step,
        contact=enrolment.contact,
        send_at=timing.send_at,
        priority=enrolment.score,
        experiment_arm=arm,
        timing_reasons=list(timing.reasons),
        # The copy variant and subject are chosen at send time, from the facts and copy as they are then.
    )


def schedule_next_step(message: Message, *, now: datetime) -> Message | None:
    """After a step is sent or skipped, schedule the following one, or complete the enrolment."""
    enrolment = message.enrolment
    if enrolment.status != Enrolment.Status.ACTIVE:
        return None
    steps = list(enrolment.sequence.steps.order_by("position", "pk"))
    following = next_step_message(message, steps=steps, account=Account.current(), now=now)
    if following is None:
        Enrolment.objects.filter(pk=enrolment.pk, status=Enrolment.Status.ACTIVE).update(
            status=Enrolment.Status.COMPLETED
        )
        return None
    following.save()
    return following


def next_step_message(message: Message, *, steps: list[Step], account: Account, now: datetime) -> Message | None:
    """The unsaved message for the step after `message`'s, or None when the sequence is done."""
    index = next((i for i, s in enumerate(steps) if s.pk == message.step_id), None)
    if index is None or index + 1 >= len(steps):
        return None
    return step_message(message.enrolment, steps[index + 1], anchor=message.sent_at or now, account=account, now=now)


def exit_enrolment(enrolment: Enrolment, *, reason: str, now: datetime) -> int:
    """Exit at once: scheduled messages (also those waiting in a delay) are cancelled. Returns how many."""
    updated = Enrolment.objects.filter(pk=enrolment.pk, status=Enrolment.Status.ACTIVE).update(
        status=Enrolment.Status.EXITED, exit_reason=reason[:200], exited_at=now
    )
    if not updated:
        return 0
    return Message.objects.filter(enrolment=enrolment, status=Message.Status.SCHEDULED).update(
        status=Message.Status.CANCELLED, reason=f"enrolment exited: {reason}"[:300]
    )


def exit_on_order(*, contact_id: int, cart_ids: set[str], now: datetime) -> int:
    """An order exits that cart's enrolments; without a cart id, every order-exiting enrolment of the contact."""
    active = Enrolment.objects.filter(
        contact_id=contact_id, status=Enrolment.Status.ACTIVE, sequence__exit_on_order=True
    )
    if cart_ids:
        # By the trigger's cart; by the key too, for an enrolment whose trigger row is gone (merged away).
        keyed = active.filter(key__startswith="cart:").filter(
            Q(trigger__facts__cart_id__in=sorted(cart_ids)) | Q(key__in=[f"cart:{cart}" for cart in cart_ids])
        )
        unkeyed = active.exclude(key__startswith="cart:")
        targets = list(keyed) + list(unkeyed)
    else:
        targets = list(active)
    return sum(exit_enrolment(enrolment, reason="order completed", now=now) for enrolment in targets)


def exit_all_for_contact(*, contact_id: int, reason: str, now: datetime) -> int:
    return sum(
        exit_enrolment(enrolment, reason=reason, now=now)
        for enrolment in Enrolment.objects.filter(contact_id=contact_id, status=Enrolment.Status.ACTIVE)
    )


def remove_step(step: Step, *, now: datetime) -> None:
    """Take a step out of its sequence. Sent emails stay as history; enrolments waiting for this step move on to
    the next step (scheduled from now) or complete."""
    with transaction.atomic():
        following = Step.objects.filter(sequence_id=step.sequence_id, position__gt=step.position).exclude(pk=step.pk)
        next_step = following.order_by("position", "pk").first()
        account = Account.current()
        waiting = Message.objects.filter(step=step, status=Message.Status.SCHEDULED).select_related(
            "enrolment__contact", "enrolment__segment", "enrolment__trigger"
        )
        for message in waiting:
            cancelled = Message.objects.filter(pk=message.pk, status=Message.Status.SCHEDULED).update(
                status=Message.Status.CANCELLED, reason="the step was removed from the sequence"
            )
            if not cancelled or message.enrolment.status != Enrolment.Status.ACTIVE:
                continue
            if next_step is None:
                Enrolment.objects.filter(pk=message.enrolment_id).update(status=Enrolment.Status.COMPLETED)
            else:
                schedule_step(message.enrolment, next_step, anchor=now, account=account, now=now)
        Step.all_objects.filter(pk=step.pk).update(removed_at=now)
        for position, remaining in enumerate(
            Step.objects.filter(sequence_id=step.sequence_id).order_by("position", "pk")
        ):
            Step.objects.filter(pk=remaining.pk).update(position=position)
