"""Celery tasks: thin interfaces to services (they take ids or nothing, and hold no logic of their own)."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from sequences.models import RejectedEvent


@shared_task
def purge_rejected_events() -> int:
    """Rejected events are for diagnosis, not an archive: keep REJECTED_EVENTS_RETENTION_DAYS of them."""
    cutoff = timezone.now() - timedelta(days=settings.REJECTED_EVENTS_RETENTION_DAYS)
    deleted, _ = RejectedEvent.objects.filter(received_at__lt=cutoff).delete()
    return deleted
