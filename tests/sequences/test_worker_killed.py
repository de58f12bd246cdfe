"""A real Celery worker process killed with SIGKILL in the middle of sending: nothing lost, nothing sent twice."""

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from sequences.delivery import claim_due_messages, recover_stuck_messages, send_claimed_messages
from sequences.models import Message
from tests.conftest import wait_until
from tests.sequences.test_delivery import abandon, cart_sequence  # noqa: F401  (fixture)

REPO = Path(__file__).resolve().parents[2]


class SlowSink:
    """Accepts mail slowly, so the worker is surely killed in the middle of its batch."""

    def __init__(self):
        self.recipients: list[str] = []

    async def handle_DATA(self, server, session, envelope):
        import asyncio

        await asyncio.sleep(0.15)
        self.recipients.extend(envelope.rcpt_tos)
        return "250 OK"


@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_loses_nothing_and_sends_nothing_twice(tracker, cart_sequence, settings):  # noqa: F811
    from aiosmtpd.controller import Controller

    from sequences.enrolment import enrol_pending_triggers
    from sequences.triggers import detect_quiet_sessions

    sink = SlowSink()
    port = _free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": port},
        }
    }
    try:
        # given 20 abandoned carts whose first emails are due, claimed and handed to a real worker process
        for n in range(20):
            abandon(tracker, user_id=f"k-{n}")
        now = timezone.now()
        detect_quiet_sessions(now=now)
        enrol_pending_triggers(now=now)
        ids = claim_due_messages(now=now, limit=100)
        assert len(ids) == 20
        worker = _start_worker(port, ids)
        # when it is killed after a few emails went out
        assert wait_until(lambda: len(sink.recipients) >= 3, timeout=60)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
        # then recovery reschedules what was never started and refuses to guess about the one in flight
        put_back, unknown = recover_stuck_messages(now=timezone.now() + timedelta(minutes=11))
        later = timezone.now() + timedelta(minutes=12)
        while retry := claim_due_messages(now=later):
            send_claimed_messages(retry, now_fn=lambda: later)
    finally:
        controller.stop()

    first_emails = Message.objects.filter(pk__in=ids)
    assert len(sink.recipients) == len(set(sink.recipients)), "an email was sent twice"
    assert set(first_emails.values_list("status", flat=True)) <= {"sent", "failed"}
    assert first_emails.filter(status="failed").count() == unknown <= 1
    assert first_emails.filter(status="sent").count() + unknown == 20
    assert put_back >= 1, "the worker was killed mid-batch, so some emails had not been started"
    # every first email that went out, including those the killed worker sent, has its follow-up scheduled
    followups = Message.objects.filter(enrolment__in=first_emails.filter(status="sent").values("enrolment"))
    assert followups.filter(step__position=1).count() == first_emails.filter(status="sent").count()


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_worker(port: int, ids: list[int]) -> subprocess.Popen:
    """send_claimed_messages(ids) in a separate process, on this test's database."""
    database = settings.DATABASES["default"]
    user, host, port_ = database["USER"] or "postgres", database["HOST"] or "127.0.0.1", database["PORT"] or 5432
    url = f"postgres://{user}@{host}:{port_}/{database['NAME']}"
    connection.close()
    code = (
        "import django; django.setup();"
        "from sequences.delivery import send_claimed_messages;"
        f"send_claimed_messages({ids!r})"
    )
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "triggerapp.settings",
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(port),
    }
    return subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env, start_new_session=True)
