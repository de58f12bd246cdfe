"""The Celery app runs real tasks through the real Redis broker in a real worker."""

from datetime import timedelta

from django.utils import timezone

from sequences.models import RejectedEvent
from sequences.tasks import purge_rejected_events
from tests.conftest import wait_until
from triggerapp.celery import app


def test_old_rejected_events_are_purged_by_the_worker(celery_worker, settings):
    settings.REJECTED_EVENTS_RETENTION_DAYS = 30
    now = timezone.now()
    RejectedEvent.objects.create(received_at=now - timedelta(days=31), endpoint="batch", reason="old")
    RejectedEvent.objects.create(received_at=now - timedelta(days=1), endpoint="batch", reason="recent")

    purge_rejected_events.delay()

    assert wait_until(lambda: RejectedEvent.objects.count() == 1)
    assert list(RejectedEvent.objects.values_list("reason", flat=True)) == ["recent"]


def test_beat_schedules_the_purge():
    assert "sequences.tasks.purge_rejected_events" in {entry["task"] for entry in app.conf.beat_schedule.values()}
