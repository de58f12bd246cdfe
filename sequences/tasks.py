"""Celery tasks: thin interfaces to services (they take ids or nothing, and hold no logic of their own)."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from sequences import triggers
from sequences.models import RejectedEvent


@shared_task
def purge_rejected_events() -> int:
    """Rejected events are for diagnosis, not an archive: keep REJECTED_EVENTS_RETENTION_DAYS of them."""
    cutoff = timezone.now() - timedelta(days=settings.REJECTED_EVENTS_RETENTION_DAYS)
    deleted, _ = RejectedEvent.objects.filter(received_at__lt=cutoff).delete()
    return deleted


@shared_task
def detect_quiet_sessions() -> int:
    """Cart abandonment and page exit: sessions quiet for the configured minutes (beat, every 30 s)."""
    return triggers.detect_quiet_sessions(now=timezone.now())


@shared_task
def detect_lapsed_contacts() -> int:
    """Lapsed users: no interaction for the configured number of days (beat, daily)."""
    return triggers.detect_lapsed_contacts(now=timezone.now())
