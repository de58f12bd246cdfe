"""Celery tasks of analytics: thin interfaces to services."""

from celery import shared_task
from django.utils import timezone

from analytics import rollups


@shared_task
def refresh_rollups() -> int:
    """Keep the daily aggregates current (beat, every minute): only partitions that may have changed."""
    return rollups.refresh_rollups(now=timezone.now())
