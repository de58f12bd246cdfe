"""Celery tasks: thin interfaces to services (they take ids or nothing, and hold no logic of their own)."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from sequences import delivery, enrolment, triggers
from sequences.models import RejectedEvent
from sequences.tracking import queue


@shared_task
def purge_rejected_events() -> int:
    """Rejected events are for diagnosis, not an archive: keep REJECTED_EVENTS_RETENTION_DAYS of them."""
    cutoff = timezone.now() - timedelta(days=settings.REJECTED_EVENTS_RETENTION_DAYS)
    deleted, _ = RejectedEvent.objects.filter(received_at__lt=cutoff).delete()
    return deleted


@shared_task
def store_stale_tracking_queue() -> int:
    """Safety net for TRACKING_QUEUE: store events that waited over TRACKING_QUEUE_FALLBACK_SECONDS (beat,
    every 15 s), for at most 10 s a run; the ingest workers are what keeps the wait short."""
    return queue.store_if_stale(timedelta(seconds=settings.TRACKING_QUEUE_FALLBACK_SECONDS), max_seconds=10.0)


@shared_task
def detect_quiet_sessions() -> int:
    """Cart abandonment and page exit: sessions quiet for the configured minutes (beat, every 30 s)."""
    return triggers.detect_quiet_sessions(now=timezone.now())


@shared_task
def detect_lapsed_contacts() -> int:
    """Lapsed users: no interaction for the configured number of days (beat, daily)."""
    return triggers.detect_lapsed_contacts(now=timezone.now())


@shared_task
def enrol_triggers() -> int:
    """Fired triggers -> enrolments and first messages (beat, every few seconds)."""
    return enrolment.enrol_pending_triggers(now=timezone.now())


@shared_task
def dispatch_due_messages() -> int:
    """Claim due messages and fan them out to send tasks in chunks (beat, every few seconds)."""
    return delivery.dispatch_due_messages(now=timezone.now(), enqueue=lambda ids: send_messages.delay(ids))


@shared_task
def send_messages(message_ids: list[int]) -> dict:
    report = delivery.send_claimed_messages(message_ids)
    return report.__dict__


@shared_task
def recover_stuck_messages() -> tuple[int, int]:
    return delivery.recover_stuck_messages(now=timezone.now())
