"""`manage.py ingest_worker`: store and score the events /v1/ requests queued (settings.TRACKING_QUEUE on)."""

from __future__ import annotations

import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError, connection
from django.utils import timezone

from sequences.tracking import queue

RETRY_SECONDS = 2


class Command(BaseCommand):
    help = (
        "Store and score queued tracking events until stopped (SIGTERM or Ctrl-C finish the current pass first). "
        "Run one or more beside the web processes when TRACKING_QUEUE is on; they share the queue."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--max-events",
            type=int,
            default=settings.TRACKING_QUEUE_PASS_EVENTS,
            help="events stored in one transaction at most (default TRACKING_QUEUE_PASS_EVENTS)",
        )
        parser.add_argument("--once", action="store_true", help="empty the queue, then exit")
        parser.add_argument(
            "--poll",
            type=float,
            default=1.0,
            help="seconds an idle worker waits for a wake-up (PostgreSQL NOTIFY) before looking anyway (default 1)",
        )
        parser.add_argument(
            "--record-lag",
            metavar="FILE",
            help="append, for every batch stored, the milliseconds from its receipt to its commit (for bench/)",
        )

    def handle(self, *args, max_events: int, once: bool, poll: float, record_lag: str | None, **options):
        lag_file = open(record_lag, "a", buffering=1) if record_lag else None  # noqa: SIM115  (open for the run)
        worker = {"idle": False, "stopping": False}

        def on_sigterm(signum, frame):
            worker["stopping"] = True
            if worker["idle"]:  # waiting for a wake-up: stop now; in a pass: finish it first
                raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, on_sigterm)

        def report(done: queue.Pass) -> None:
            if lag_file is not None:
                now = timezone.now()
                lag_file.write("".join(f"{(now - r).total_seconds() * 1000:.2f}\n" for r in done.received))

        listener = queue.Listener()
        try:
            while not worker["stopping"]:
                try:
                    home = listener.refresh(every=poll)
                    queue.drain(max_events, on_pass=report, home=home, should_stop=lambda: worker["stopping"])
                    if once:
                        return
                    worker["idle"] = True
                    if not worker["stopping"]:
                        queue.wait_for_work(timeout=poll)
                    worker["idle"] = False
                except DatabaseError as error:
                    # PostgreSQL restarted, the network dropped, or a migration has not run yet: nothing is set
                    # aside for it (queue.drain); reconnect (and LISTEN again) and try again shortly.
                    self.stderr.write(f"ingest_worker: {type(error).__name__}: {error}; retrying in {RETRY_SECONDS} s")
                    connection.close()
                    listener.reset()
                    time.sleep(RETRY_SECONDS)
        except KeyboardInterrupt:
            pass
        finally:
            if lag_file is not None:
                lag_file.close()
