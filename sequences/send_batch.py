"""The state of one chunk of sends (shell): the follow-ups of sent messages, written a few dozen at a time, and
what rendering needs, read once per chunk (copy variants, product events)."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime

from django.db import connection, transaction

from sequences.enrolment import next_step_message
from sequences.models import Account, CopyVariant, Enrolment, Message, Step

SENT_FLUSH = 25


@contextmanager
def fast_commits():
    """Commit without waiting for the WAL flush while sending (PostgreSQL's synchronous_commit=off).

    A worker that dies loses nothing by it: its commits are already in PostgreSQL. Only a crash of PostgreSQL
    itself in the last fraction of a second could forget a start mark, and so resend that one message;
    docs/sequences.md weighs this. Without it every message waits for two disk flushes.
    """
    postgres = connection.vendor == "postgresql"
    if postgres:
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO OFF")
    try:
        yield
    finally:
        if postgres:
            with connection.cursor() as cursor:
                cursor.execute("RESET synchronous_commit")


class SendBatch:
    """Follow-ups of sent messages (the next step, or the enrolment's completion), written a few dozen at a time.

    Each message is marked sent on its own as soon as the mail server accepts it. If the worker dies before the
    follow-up is written, `recover_stuck_messages` writes it later (Message.followed_up tells which are missing).
    """

    def __init__(self, *, account: Account, product_events: dict[int, list] | None = None):
        self.account = account
        self.items: list[tuple[Message, datetime]] = []
        self.steps: dict[int, list[Step]] = {}
        self.copy: dict[int, list[CopyVariant]] = {}
        # By contact: the latest product events, read once for the whole chunk (copy_rendering uses them).
        self.product_events: dict[int, list] = product_events or {}

    def __len__(self) -> int:
        return len(self.items)

    def add(self, message: Message, sent_at: datetime) -> None:
        self.items.append((message, sent_at))

    def flush(self, *, now: datetime) -> None:
        if not self.items:
            return
        items, self.items = self.items, []
        with transaction.atomic():
            next_messages, completed = [], []
            for message, moment in items:
                message.sent_at = moment
                following = next_step_message(message, steps=self._steps(message), account=self.account, now=moment)
                if following is None:
                    completed.append(message.enrolment_id)
                else:
                    next_messages.append(following)
            Message.objects.bulk_create(next_messages)
            Enrolment.objects.filter(pk__in=completed, status=Enrolment.Status.ACTIVE).update(
                status=Enrolment.Status.COMPLETED
            )
            Message.objects.filter(pk__in=[message.pk for message, _ in items]).update(followed_up=True)

    def variants(self, step_id: int) -> list[CopyVariant]:
        """A step's copy variants, read once per batch of sends."""
        if step_id not in self.copy:
            self.copy[step_id] = list(CopyVariant.objects.filter(step_id=step_id))
        return self.copy[step_id]

    def _steps(self, message: Message) -> list[Step]:
        sequence_id = message.enrolment.sequence_id
        if sequence_id not in self.steps:
            self.steps[sequence_id] = list(Step.objects.filter(sequence_id=sequence_id).order_by("position", "pk"))
        return self.steps[sequence_id]
