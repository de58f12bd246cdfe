"""Rollups: the incremental refresh, run along a random stream of sends and email events, ends up exactly equal
to a full rebuild from the raw data, and its totals are the raw counts."""

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum

from analytics.models import DailyStats, SendTimeStats
from analytics.rollups import rebuild_rollups, refresh_rollups
from sequences.models import Contact, EmailEvent, Enrolment, Message, Segment, Sequence, Step

pytestmark = pytest.mark.django_db
START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


DAILY_FIELDS = (
    "day", "sequence_id", "step_id", "segment_id", "variant", "arm_id", "control", "messages", "opened",
    "opened_human", "clicked", "converted", "revenue", "unsubscribed", "enrolments", "enrolments_converted",
    "enrolment_revenue",
)  # fmt: skip
SEND_TIME_FIELDS = (
    "day", "sequence_id", "segment_id", "local_hour", "recent_sends", "messages", "opened", "clicked", "converted",
)  # fmt: skip


def snapshot() -> tuple[list, list]:
    # sorted by repr: None (no segment, no arm) does not compare with numbers
    daily = sorted((tuple(row) for row in DailyStats.objects.values_list(*DAILY_FIELDS)), key=repr)
    send_time = sorted((tuple(row) for row in SendTimeStats.objects.values_list(*SEND_TIME_FIELDS)), key=repr)
    return daily, send_time


def random_stream(seed: int) -> None:
    """Two sequences of two steps; contacts enrol over four days; emails go out (or are withheld) and opens,
    clicks, orders and unsubscribes trickle in, some days late. The rollup is refreshed every few hours."""
    rng = random.Random(seed)
    segments = [Segment.objects.create(name=f"S{seed}-{i}") for i in range(2)]
    steps = []
    for n in range(2):
        sequence = Sequence.objects.create(name=f"Seq {seed}-{n}", entry_trigger="cart_abandoned", status="active")
        steps.append([Step.objects.create(sequence=sequence, position=p, name=f"E{p}") for p in range(2)])
    pending_events: list[tuple[datetime, Message, str]] = []
    now = START
    for tick in range(150):  # two-hour ticks: five days of enrolments, then late opens and orders
        now = START + timedelta(hours=2 * tick)
        for _ in range(rng.randint(0, 4) if tick < 60 else 0):
            sequence_steps = rng.choice(steps)
            held_out = rng.random() < 0.3
            contact = Contact.objects.create(email=f"c{seed}-{tick}-{rng.random()}@example.com")
            enrolment = Enrolment.objects.create(
                contact=contact,
                sequence=sequence_steps[0].sequence,
                sequence_version=1,
                segment=rng.choice([*segments, None]),
                key=f"k{rng.random()}",
                held_out=held_out,
                enrolled_at=now,
            )
            for position, step in enumerate(sequence_steps):
                send_at = now + timedelta(hours=position * rng.choice([2, 20, 30]))
                status = "withheld" if held_out else rng.choice(["sent", "sent", "sent", "skipped", "scheduled"])
                if send_at > now and status == "sent":
                    status = "scheduled"  # sent later in the stream
                message = Message.objects.create(
                    enrolment=enrolment,
                    step=step,
                    contact=contact,
                    status=status,
                    send_at=send_at,
                    sent_at=send_at if status == "sent" else None,
                    variant=rng.choice(["Default", "Electronics"]),
                    local_hour=rng.randint(0, 23) if status == "sent" else None,
                    recent_sends=rng.randint(0, 4) if status == "sent" else None,
                )
                for kind, chance in (("open", 0.4), ("click", 0.15), ("conversion", 0.1), ("unsubscribe", 0.02)):
                    if rng.random() < chance and (status == "sent" or (kind == "conversion" and held_out)):
                        # Orders may come days later, beyond the recent days the refresh always looks at.
                        late = 240 if kind == "conversion" else 72
                        pending_events.append((send_at + timedelta(hours=rng.uniform(0.1, late)), message, kind))
        # Scheduled messages fall due and go out.
        for message in Message.objects.filter(status="scheduled", send_at__lte=now):
            Message.objects.filter(pk=message.pk).update(status="sent", sent_at=message.send_at, local_hour=7)
        due = [item for item in pending_events if item[0] <= now]
        pending_events = [item for item in pending_events if item[0] > now]
        for moment, message, kind in due:
            message.refresh_from_db()
            if kind != "conversion" and message.status != "sent":
                continue
            EmailEvent.objects.create(
                message=message,
                kind=kind,
                occurred_at=moment,
                machine_open=kind == "open" and rng.random() < 0.2,
                revenue=Decimal(rng.randint(10, 300)) if kind == "conversion" else None,
            )
        if tick % 5 == 0:
            refresh_rollups(now=now)
    refresh_rollups(now=now)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_incremental_rollup_equals_a_full_rebuild(seed):
    random_stream(seed)
    incremental = snapshot()

    rebuild_rollups()

    assert incremental == snapshot()
    assert incremental[0], "the stream produced rollup rows"


def test_rollup_totals_are_the_raw_counts():
    random_stream(4)

    totals = DailyStats.objects.aggregate(messages=Sum("messages"), opened=Sum("opened"), clicked=Sum("clicked"))

    counted = Message.objects.filter(status__in=["sent", "withheld"])
    assert totals["messages"] == counted.count()
    assert totals["opened"] == counted.filter(email_events__kind="open").distinct().count()
    assert totals["clicked"] == counted.filter(email_events__kind="click").distinct().count()
    enrolled = DailyStats.objects.aggregate(n=Sum("enrolments"))["n"]
    assert enrolled == Enrolment.objects.filter(messages__status__in=["sent", "withheld", "skipped"]).distinct().count()
