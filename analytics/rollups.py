"""Rollups (shell): recompute the daily aggregates of one partition (a UTC day of one sequence) from the raw
messages and email events, and keep them current.

Incremental means "only the partitions that can have changed": the recent days (sends happen around their
send_at, opens and orders follow within the attribution window) plus the partitions of every message whose
enrolment got a new email event since the last run (a late open, an order). Each partition is recomputed
whole, by the same function a full rebuild uses, so the incremental result equals a rebuild exactly.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import DecimalField, Max, Min, Sum, Value
from django.db.models.functions import Coalesce, TruncDate

from analytics.models import DailyStats, RollupState, SendTimeStats
from sequences.models import Account, EmailEvent, Message

# Messages that count: sent ones (treated) and withheld ones (control). Skipped, failed and cancelled ones
# still count for their enrolment (intention to treat), so the control group is compared with everybody enrolled.
MESSAGE_STATUSES = ("sent", "withheld")
ENROLMENT_STATUSES = ("sent", "withheld", "skipped", "failed", "cancelled")
MONEY = DecimalField(max_digits=14, decimal_places=2)
Partition = tuple[date, int]  # (UTC day of send_at, sequence id)

DAILY_COUNTS = (
    "messages",
    "opened",
    "opened_human",
    "clicked",
    "converted",
    "unsubscribed",
    "complained",
    "bounced",
    "enrolments",
    "enrolments_converted",
)
SEND_TIME_COUNTS = ("messages", "opened", "opened_human", "clicked", "converted", "unsubscribed")


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def _partition_rows(day: date, sequence_id: int) -> list[dict]:
    """One row per message of the partition, with its outcomes. Three indexed queries: the messages, their
    email events grouped by message and kind, and their enrolments' first messages and orders (a correlated
    EXISTS per kind made PostgreSQL scan every email event once per partition)."""
    start, end = _day_bounds(day)
    rows = list(
        Message.objects.filter(
            enrolment__sequence_id=sequence_id, send_at__gte=start, send_at__lt=end, status__in=ENROLMENT_STATUSES
        ).values(
            "pk",
            "enrolment_id",
            "status",
            "step_id",
            "step__position",
            "enrolment__segment_id",
            "enrolment__held_out",
            "variant",
            "experiment_arm_id",
            "local_hour",
            "recent_sends",
        )
    )
    if not rows:
        return rows
    outcomes: dict[int, dict] = defaultdict(lambda: {"revenue": Decimal(0)})
    for chunk in _chunks([row["pk"] for row in rows]):
        for event in (
            EmailEvent.objects.filter(message_id__in=chunk)
            .values("message_id", "kind", "machine_open")
            .annotate(revenue=Sum("revenue"))
        ):
            found = outcomes[event["message_id"]]
            found[event["kind"]] = True
            if event["kind"] == "open" and not event["machine_open"]:
                found["open_human"] = True
            found["revenue"] += event["revenue"] or 0
    firsts: set[int] = set()
    orders: dict[int, Decimal] = {}
    for chunk in _chunks(sorted({row["enrolment_id"] for row in rows})):
        firsts |= set(
            Message.objects.filter(enrolment_id__in=chunk)
            .values("enrolment_id")
            .annotate(first=Min("pk"))
            .values_list("first", flat=True)
        )
        orders |= dict(
            EmailEvent.objects.filter(message__enrolment_id__in=chunk, kind="conversion")
            .values("message__enrolment_id")
            .annotate(total=Coalesce(Sum("revenue"), Value(Decimal(0)), output_field=MONEY))
            .values_list("message__enrolment_id", "total")
        )
    for row in rows:
        found = outcomes.get(row["pk"], {})
        row.update(
            opened=found.get("open", False),
            opened_human=found.get("open_human", False),
            clicked=found.get("click", False),
            converted=found.get("conversion", False),
            unsubscribed=found.get("unsubscribe", False),
            complained=found.get("complaint", False),
            bounced=found.get("bounce", False),
            message_revenue=found.get("revenue", Decimal(0)),
            first=row["pk"] in firsts,
            enrolment_converted=row["enrolment_id"] in orders,
            enrolment_revenue=orders.get(row["enrolment_id"], Decimal(0)),
        )
    return rows


def _chunks(ids: list[int], size: int = 5000):
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def aggregate_partition(day: date, sequence_id: int, rows: Iterable[dict]) -> tuple[list, list]:
    """(DailyStats, SendTimeStats) rows for one partition from its message rows (pure given the rows)."""
    daily: dict[tuple, dict] = defaultdict(
        lambda: dict.fromkeys(DAILY_COUNTS, 0) | {"revenue": 0, "enrolment_revenue": 0}
    )
    send_time: dict[tuple, dict] = defaultdict(lambda: dict.fromkeys(SEND_TIME_COUNTS, 0))
    for row in rows:
        key = (
            row["step_id"],
            row["step__position"],
            row["enrolment__segment_id"],
            row["variant"],
            row["experiment_arm_id"],
            row["enrolment__held_out"],
        )
        counts = daily[key]
        if row["first"]:
            counts["enrolments"] += 1
            counts["enrolments_converted"] += row["enrolment_converted"]
            counts["enrolment_revenue"] += row["enrolment_revenue"]
        if row["status"] not in MESSAGE_STATUSES:
            continue
        counts["messages"] += 1
        for name in ("opened", "opened_human", "clicked", "converted", "unsubscribed", "complained", "bounced"):
            counts[name] += row[name]
        counts["revenue"] += row["message_revenue"]
        if row["status"] == "sent":
            hour = row["local_hour"] if row["local_hour"] is not None else -1
            recent = min(row["recent_sends"], 3) if row["recent_sends"] is not None else -1
            bucket = send_time[(row["enrolment__segment_id"], hour, recent)]
            bucket["messages"] += 1
            for name in ("opened", "opened_human", "clicked", "converted", "unsubscribed"):
                bucket[name] += row[name]
    daily_rows = [
        DailyStats(
            day=day,
            sequence_id=sequence_id,
            step_id=step_id,
            step_position=position,
            segment_id=segment_id,
            variant=variant,
            arm_id=arm_id,
            control=control,
            **counts,
        )
        for (step_id, position, segment_id, variant, arm_id, control), counts in daily.items()
    ]
    send_time_rows = [
        SendTimeStats(
            day=day, sequence_id=sequence_id, segment_id=segment_id, local_hour=hour, recent_sends=recent, **counts
        )
        for (segment_id, hour, recent), counts in send_time.items()
    ]
    return daily_rows, send_time_rows


def recompute_partition(day: date, sequence_id: int) -> None:
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                # These short queries look costly enough to PostgreSQL to be JIT-compiled each time: a loss here.
                cursor.execute("SET LOCAL jit = off")
        daily_rows, send_time_rows = aggregate_partition(day, sequence_id, _partition_rows(day, sequence_id))
        DailyStats.objects.filter(day=day, sequence_id=sequence_id).delete()
        SendTimeStats.objects.filter(day=day, sequence_id=sequence_id).delete()
        DailyStats.objects.bulk_create(daily_rows)
        SendTimeStats.objects.bulk_create(send_time_rows)


def _message_partitions(messages) -> set[Partition]:
    return set(
        messages.filter(status__in=ENROLMENT_STATUSES)
        .annotate(day=TruncDate("send_at", tzinfo=UTC))
        .values_list("day", "enrolment__sequence_id")
        .distinct()
    )


@transaction.atomic
def refresh_rollups(*, now: datetime) -> int:
    """Recompute the partitions that may have changed since the last run; returns how many.

    One run at a time: the state row stays locked until the run commits, so two overlapping beat runs cannot
    both rewrite a partition (each would miss the other's uncommitted rows and leave duplicates)."""
    RollupState.objects.get_or_create(pk=1)
    state = RollupState.objects.select_for_update().get(pk=1)
    latest = EmailEvent.objects.aggregate(latest=Max("pk"))["latest"] or 0
    recent_from = (now - timedelta(days=Account.current().attribution_days + 2)).date()
    start, _ = _day_bounds(recent_from)
    partitions = _message_partitions(Message.objects.filter(send_at__gte=start))
    # Partitions already rolled up for those days too: one whose messages all disappeared must be emptied.
    partitions |= set(DailyStats.objects.filter(day__gte=recent_from).values_list("day", "sequence_id").distinct())
    if latest > state.email_event_watermark:
        touched = EmailEvent.objects.filter(pk__gt=state.email_event_watermark, pk__lte=latest)
        enrolments = touched.values("message__enrolment_id")
        partitions |= _message_partitions(Message.objects.filter(enrolment_id__in=enrolments))
    for day, sequence_id in sorted(partitions):
        recompute_partition(day, sequence_id)
    RollupState.objects.filter(pk=1).update(email_event_watermark=latest, updated_at=now)
    return len(partitions)


@transaction.atomic
def rebuild_rollups() -> int:
    """Recompute every partition from the raw data (the reference the incremental rollup must equal)."""
    RollupState.objects.get_or_create(pk=1)
    RollupState.objects.select_for_update().get(pk=1)
    DailyStats.objects.all().delete()
    SendTimeStats.objects.all().delete()
    partitions = sorted(_message_partitions(Message.objects.all()))
    for day, sequence_id in partitions:
        recompute_partition(day, sequence_id)
    latest = EmailEvent.objects.aggregate(latest=Max("pk"))["latest"] or 0
    RollupState.objects.filter(pk=1).update(email_event_watermark=latest)
    return len(partitions)
