"""The Celery app runs real tasks through the real Redis broker in a real worker."""

from datetime import timedelta

from django.db import connection, connections
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


def _worker_backends() -> dict[int, object]:
    """PostgreSQL backends of this test database other than the test's own: the worker's."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, backend_start FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        return dict(cursor.fetchall())


def _purge_once(kept: str) -> None:
    RejectedEvent.objects.create(received_at=timezone.now() - timedelta(days=400), endpoint="batch", reason="old")
    purge_rejected_events.delay()
    assert wait_until(lambda: list(RejectedEvent.objects.values_list("reason", flat=True)) == [kept])


def _terminate(backends) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", [list(backends)])


def test_the_worker_keeps_its_database_connection_between_tasks_and_replaces_a_dead_one(celery_worker, monkeypatch):
    # As in production (the test settings close connections after every use, to keep test databases droppable).
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 60)
    RejectedEvent.objects.create(received_at=timezone.now(), endpoint="batch", reason="recent")
    try:
        _purge_once("recent")
        first = _worker_backends()
        _purge_once("recent")
        _purge_once("recent")
        assert _worker_backends() == first != {}  # the same backends: no new connection for each task

        _terminate(first)  # as a PostgreSQL restart or an idle-session timeout would
        _purge_once("recent")
        _purge_once("recent")
        assert set(_worker_backends()).isdisjoint(first)
    finally:
        _terminate(_worker_backends())
