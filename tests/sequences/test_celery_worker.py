"""The Celery app runs real tasks through the real Redis broker in a real worker."""

import time
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.utils import timezone

from sequences.models import RejectedEvent
from sequences.tasks import purge_rejected_events
from triggerapp.celery import app


@pytest.fixture
def celery_worker(transactional_db, settings):
    assert app.conf.broker_url.startswith("redis://"), "tests run against the real Redis broker"
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10) as worker:
        yield worker


def wait_until(condition, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


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
