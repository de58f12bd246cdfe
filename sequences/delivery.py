"""Delivery (shell): claim due messages, apply the guards, send, and move each message's state safely.

Every state change is one conditional UPDATE (`WHERE status = <expected>`), so two workers can never both
move the same message, and a retry can never resend a sent one:

    scheduled --claim (FOR UPDATE SKIP LOCKED)--> sending --> sent | failed | skipped | scheduled (held/retry)
    scheduled --exit--> cancelled          (enrolment exited: order, unsubscribe, newer cart)
    withheld                               (control group: never sent, counted)

A worker that dies mid-batch: messages it claimed but had not started are put back to `scheduled` by
`recover_stuck_messages`; the one it had handed to the mail server (smtp_started_at set) is marked `failed`
with "outcome unknown" rather than resent, because a duplicate email is worse than a missing one.
"""

from __future__ import annotations

import logging
import smtplib
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from sequences.copy_rendering import arm_choice, contact_copy_facts, recent_product_events, render_for, render_variant
from sequences.copy_selection import NoDefaultVariant
from sequences.copy_templates import CopyTemplateError
from sequences.email_assembly import assemble_email
from sequences.enrolment import contact_zone, schedule_next_step
from sequences.guards import HOLD, SEND, SKIP, GuardFacts, GuardRules, evaluate_guards
from sequences.mail_sender import MailSender
from sequences.models import Account, Enrolment, Message
from sequences.send_batch import SENT_FLUSH, SendBatch, fast_commits
from sequences.send_history import SendHistory
from sequences.send_marks import SendMarks, StartedMark
from sequences.tracking_links import unsubscribe_url, view_url

log = logging.getLogger(__name__)

CHUNK = 100
MAX_ATTEMPTS = 5
STUCK_AFTER = timedelta(minutes=10)
PAUSED_RECHECK = timedelta(minutes=15)
TEMPORARY_ERRORS = (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, ConnectionError, socket.timeout, OSError)


def guard_rules(account: Account) -> GuardRules:
    return GuardRules(
        cap_per_funnel_stage=account.cap_per_funnel_stage,
        cap_per_window=account.cap_per_48_hours,
        cap_window=timedelta(hours=48),
        decay_wait=timedelta(hours=account.decay_wait_hours),
        activity_quiet=timedelta(minutes=account.activity_gate_minutes),
    )


def retry_delay(attempts: int) -> timedelta:
    """Backoff for temporary mail-server errors: 30 s, 1 min, 2 min, 4 min..."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


def claim_due_messages(*, now: datetime, limit: int = CHUNK) -> list[int]:
    """Claim up to `limit` due messages (highest intent first). Concurrent claimers skip each other's rows."""
    with transaction.atomic():
        ids = list(
            Message.objects.select_for_update(skip_locked=True)
            .filter(status=Message.Status.SCHEDULED, send_at__lte=now)
            .order_by("-priority", "send_at")
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            Message.objects.filter(pk__in=ids, status=Message.Status.SCHEDULED).update(
                status=Message.Status.SENDING, claimed_at=now, smtp_started_at=None
            )
    return ids


def dispatch_due_messages(*, now: datetime, enqueue: Callable[[list[int]], None], max_chunks: int = 50) -> int:
    """Claim due messages in chunks and hand each chunk to `enqueue` (a Celery task in production)."""
    claimed = 0
    for _ in range(max_chunks):
        ids = claim_due_messages(now=now)
        if not ids:
            break
        claimed += len(ids)
        enqueue(ids)
    return claimed


@dataclass
class SendReport:
    sent: int = 0
    held: int = 0
    skipped: int = 0
    retried: int = 0
    failed: int = 0


def _decision_entry(now: datetime, action: str, reason: str) -> dict:
    return {"at": now.isoformat(), "action": action, "reason": reason}


def _move(message: Message, *, expected: str, **changes) -> bool:
    """One conditional UPDATE; False if somebody else moved the message first."""
    return bool(Message.objects.filter(pk=message.pk, status=expected).update(**changes))


def send_claimed_messages(ids: Iterable[int], *, now_fn: Callable[[], datetime] = timezone.now) -> SendReport:
    report = SendReport()
    messages = list(
        Message.objects.filter(pk__in=list(ids), status=Message.Status.SENDING)
        .select_related(
            "contact",
            "step",
            "enrolment__sequence",
            "enrolment__trigger",
            "enrolment__segment",
            "experiment_arm__copy_variant",
            "experiment_arm__experiment",
        )
        .order_by("-priority", "send_at")
    )
    if not messages:
        return report
    account = Account.current()
    rules = guard_rules(account)
    history = SendHistory(messages, now=now_fn(), window=rules.cap_window)
    batch = SendBatch(
        account=account, product_events=recent_product_events([message.contact_id for message in messages])
    )
    sender = MailSender(account.from_email or settings.DEFAULT_FROM_EMAIL)

    def on_sent(message: Message, sent_at: datetime) -> None:
        report.sent += 1
        batch.add(message, sent_at)

    marks = SendMarks(on_sent)
    with fast_commits():
        try:
            for message in messages:
                waiting = marks.pending
                _send_one(
                    message,
                    rules=rules,
                    history=history,
                    sender=sender,
                    batch=batch,
                    marks=marks,
                    now_fn=now_fn,
                    report=report,
                )
                if waiting is not None and marks.pending is waiting:
                    marks.flush()  # this message was not sent: the previous one's mark waits no longer
                if len(batch) >= SENT_FLUSH:
                    batch.flush(now=now_fn())
        finally:
            try:
                marks.flush()
            finally:
                try:
                    batch.flush(now=now_fn())
                finally:
                    sender.close()
    return report


def _send_one(
    message, *, rules, history, sender: MailSender, batch: SendBatch, marks: SendMarks, now_fn, report: SendReport
) -> None:
    now = now_fn()
    contact, enrolment = message.contact, message.enrolment
    if enrolment.status == Enrolment.Status.EXITED:
        _move(
            message,
            expected=Message.Status.SENDING,
            status=Message.Status.CANCELLED,
            reason=f"enrolment exited: {enrolment.exit_reason}"[:300],
        )
        return
    sequence_status = enrolment.sequence.status
    if sequence_status == "archived":
        _move(
            message,
            expected=Message.Status.SENDING,
            status=Message.Status.CANCELLED,
            reason="the sequence was archived",
        )
        return
    if sequence_status != "active":
        # Paused (or back to draft): the email waits, and goes out once the sequence is active again.
        _move(
            message,
            expected=Message.Status.SENDING,
            status=Message.Status.SCHEDULED,
            send_at=now + PAUSED_RECHECK,
            claimed_at=None,
            reason=f"the sequence is {sequence_status}",
        )
        report.held += 1
        return
    first_sent = history.first_sent.get(enrolment.pk)
    decision = evaluate_guards(
        GuardFacts(
            now=now,
            subscription_status=contact.subscription_status,
            has_email=bool(contact.email),
            sent_in_funnel_stage=history.stage_counts[(contact.pk, enrolment.sequence.funnel_stage)],
            recent_sends=history.recent[contact.pk],
            is_first_step=first_sent is None,
            enrolment_first_sent_at=first_sent,
            engaged_since_first=enrolment.pk in history.engaged,
            last_activity_at=contact.last_seen_at,
        ),
        rules,
    )
    if decision.action == HOLD:
        decisions = [*message.decisions, _decision_entry(now, decision.action, decision.reason)]
        _move(
            message,
            expected=Message.Status.SENDING,
            status=Message.Status.SCHEDULED,
            send_at=decision.hold_until,
            reason=decision.reason[:300],
            decisions=decisions,
            claimed_at=None,
        )
        report.held += 1
        return
    if decision.action == SKIP:
        decisions = [*message.decisions, _decision_entry(now, decision.action, decision.reason)]
        if _move(
            message,
            expected=Message.Status.SENDING,
            status=Message.Status.SKIPPED,
            reason=decision.reason[:300],
            decisions=decisions,
        ):
            report.skipped += 1
            schedule_next_step(message, now=now)
            Message.objects.filter(pk=message.pk).update(followed_up=True)
        return
    assert decision.action == SEND
    facts = contact_copy_facts(
        contact,
        enrolment.trigger,
        batch.account,
        product_events=batch.product_events.get(contact.pk, []),
        latest_trigger=False,
    )
    links = {"unsubscribe_url": unsubscribe_url(message.pk), "view_in_browser_url": view_url(message.pk)}
    arm = message.experiment_arm
    try:
        if arm is not None and arm.copy_variant is not None:
            # A copy experiment decides the variant; the conditions are not consulted.
            rendered = render_variant(arm.copy_variant, facts, choice=arm_choice(arm), **links)
        else:
            rendered = render_for(
                batch.variants(message.step_id), facts, reengagement=decision.use_reengagement_copy, now=now, **links
            )
    except (NoDefaultVariant, CopyTemplateError) as error:
        # Copy is checked when saved, so this is a template saved before a limit changed, or a step emptied
        # while live: the marketer sees why on the message, and nothing half-rendered goes out.
        reason = f"copy could not be rendered: {error}"[:300]
        decisions = [*message.decisions, _decision_entry(now, "failed", reason)]
        if _move(
            message, expected=Message.Status.SENDING, status=Message.Status.FAILED, reason=reason, decisions=decisions
        ):
            report.failed += 1
        return
    assembled = assemble_email(
        message_pk=message.pk,
        to=contact.email,
        from_email=sender.from_email,
        html=rendered.html,
        subject=rendered.subject,
        unsubscribe_url=links["unsubscribe_url"],
    )
    # Mark the hand-over first: if this worker dies now, recovery knows the outcome is unknown and never resends.
    started = StartedMark(
        at=now,
        subject=rendered.subject,
        variant_name=rendered.variant.name,
        variant_id=rendered.variant.pk,
        trace=rendered.trace,
        links=assembled.links,
        message_id_header=assembled.message_id_header,
        local_hour=now.astimezone(contact_zone(contact, batch.account)).hour,
        recent_sends=sum(1 for sent in history.recent[contact.pk] if now - rules.cap_window < sent <= now),
    )
    if not marks.started(message.pk, started):
        return
    try:
        sender.send(assembled)
    except smtplib.SMTPResponseException as error:
        if error.smtp_code < 500:
            sender.reset()
        _failed_send(message, now, error.smtp_code, _smtp_text(error.smtp_error), report)
        return
    except smtplib.SMTPRecipientsRefused as error:
        code = min(code for code, _ in error.recipients.values()) if error.recipients else 550
        _failed_send(message, now, code, "recipient refused", report)
        return
    except TEMPORARY_ERRORS as error:
        sender.reset()
        _failed_send(message, now, 421, f"{type(error).__name__}: {error}"[:200], report)
        return
    sent_at = now_fn()
    history.record(message, sent_at)  # it went out: later emails of this chunk count it against the caps
    marks.sent(message, sent_at)  # written with the next email's started mark (send_marks.py)


def _smtp_text(value) -> str:
    return (value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value))[:200]


def _failed_send(message, now, code: int, text: str, report: SendReport) -> None:
    attempts = message.attempts + 1
    decisions = list(message.decisions)
    if 400 <= code < 500 and attempts < MAX_ATTEMPTS:
        retry_at = now + retry_delay(attempts)
        decisions.append(_decision_entry(now, "retry", f"mail server said {code} {text}; retry at {retry_at:%H:%M:%S}"))
        _move(
            message,
            expected=Message.Status.SENDING,
            status=Message.Status.SCHEDULED,
            send_at=retry_at,
            smtp_started_at=None,
            claimed_at=None,
            reason=f"temporary error {code}: retrying"[:300],
            decisions=decisions,
        )
        report.retried += 1
        return
    decisions.append(_decision_entry(now, "failed", f"mail server said {code} {text}"))
    _move(
        message,
        expected=Message.Status.SENDING,
        status=Message.Status.FAILED,
        reason=f"{code} {text}"[:300],
        decisions=decisions,
    )
    report.failed += 1


def recover_stuck_messages(*, now: datetime) -> tuple[int, int]:
    """Messages left in `sending` by a worker that stopped, and sent ones whose next step it never scheduled.
    Returns (put back, marked failed)."""
    orphans = list(
        Message.objects.filter(status=Message.Status.SENT, followed_up=False, claimed_at__lt=now - STUCK_AFTER)
        .select_related("enrolment__sequence", "enrolment__contact", "enrolment__segment", "enrolment__trigger")
        .order_by("pk")[:1000]
    )
    if orphans:
        batch = SendBatch(account=Account.current())
        for message in orphans:
            batch.add(message, message.sent_at or now)
        batch.flush(now=now)
    stuck = Message.objects.filter(status=Message.Status.SENDING, claimed_at__lt=now - STUCK_AFTER)
    put_back = stuck.filter(smtp_started_at__isnull=True).update(
        status=Message.Status.SCHEDULED, claimed_at=None, reason="worker stopped before sending; rescheduled"
    )
    unknown = stuck.filter(smtp_started_at__isnull=False).update(
        status=Message.Status.FAILED,
        reason="worker stopped while handing this to the mail server; outcome unknown, not resent to avoid a duplicate",
    )
    return put_back, unknown
