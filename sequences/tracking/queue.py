"""The tracking queue: /v1/ requests validate and queue; ingest workers store and score many requests at a time.

Storing a batch costs almost as much for its fixed part (a dozen statements, their planning, the commit, Django's
request) as for its events: in-process, 100 events cost 31-35 ms of CPU stored alone and 13-14 ms stored in a
pass of 1,000 (`bench/ingest_cpu.py --batch-size`, docs/performance.md). With `TRACKING_QUEUE` on, a request only
validates its events and inserts them, a row per partition of people (answering 200 once committed, so nothing
accepted is lost), and `manage.py ingest_worker` takes the batches queued in a partition since its last pass, up
to `TRACKING_QUEUE_PASS_EVENTS` events, and stores them with the same code and in the same transaction that
deletes them from the queue. An idle worker wakes on PostgreSQL's NOTIFY; under load the passes grow by
themselves, which is when sharing the fixed part pays. Single calls do not come here (tracking/views.py).
"""

from __future__ import annotations

import itertools
import logging
import math
import time
import traceback
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import msgspec
from django.conf import settings
from django.db import DatabaseError, DataError, IntegrityError, connection, transaction
from django.db.models import Max, Min
from django.utils import timezone

from sequences.models import QueuedBatch, WriteKey
from sequences.tracking.ingest import IngestResult, SourcedEvent, identities, store_events
from sequences.tracking.payloads import IncomingEvent

log = logging.getLogger(__name__)

CHANNEL = "tracking_queue"
QUEUE_LOCK_CLASS = 7_406_411  # advisory lock namespace of the queue partitions, held for a pass ("tq")
HOME_LOCK_CLASS = 7_406_412  # and of the workers' home partitions, held for a worker's connection
# msgpack: a fifth smaller than JSON and a third faster to decode (bench: 100 shop events, 79 against 98 KB,
# 0.47 against 0.72 ms). A JSON body may hold integers msgpack cannot (past 64 bits): such a batch is queued as
# JSON, which an array's first byte tells apart ("[" is no msgpack array header).
_msgpack_encoder = msgspec.msgpack.Encoder()
_msgpack_decoder = msgspec.msgpack.Decoder(list[IncomingEvent])
_json_encoder = msgspec.json.Encoder()
_json_decoder = msgspec.json.Decoder(list[IncomingEvent])


def encode_events(events: list[IncomingEvent]) -> bytes:
    try:
        return _msgpack_encoder.encode(events)
    except OverflowError:
        return _json_encoder.encode(events)


def decode_events(payload: bytes) -> list[IncomingEvent]:
    return _json_decoder.decode(payload) if payload[:1] == b"[" else _msgpack_decoder.decode(payload)


def partition_of(event: IncomingEvent, partitions: int) -> int:
    """Which queue partition holds this person's events: the same one for every event naming the same id.
    The anonymous id first: a browser sends it with every event, before and after an identify adds the user id."""
    key = event.anonymous_id or event.user_id or ""
    return zlib.crc32(key.encode()) % partitions


def enqueue(source: WriteKey, events: list[IncomingEvent], received_at: datetime) -> None:
    """Queue validated events, one row per partition they fall in; committed (and workers woken) on return."""
    partitions = max(1, settings.TRACKING_QUEUE_PARTITIONS)
    parts: dict[int, list[IncomingEvent]] = {}
    for event in events:
        parts.setdefault(partition_of(event, partitions), []).append(event)
    # identities: what a pass takes an advisory lock for, counted so passes can be bounded
    rows = [(partition, len(part), len(identities(part)), encode_events(part)) for partition, part in parts.items()]
    rows.sort()
    if connection.vendor != "postgresql":
        QueuedBatch.objects.bulk_create(
            QueuedBatch(
                source=source, partition=p, received_at=received_at, event_count=n, identity_count=i, events=payload
            )
            for p, n, i, payload in rows
        )
        return
    with connection.cursor() as cursor:
        # One statement: the rows and the wake-up commit together (NOTIFY is delivered at commit).
        cursor.execute(
            "WITH queued AS (INSERT INTO sequences_queuedbatch"
            " (source_id, partition, received_at, event_count, identity_count, events, error)"
            " SELECT %s, p, %s, n, i, e, '' FROM unnest(%b::smallint[], %b::int[], %b::int[], %b::bytea[])"
            " AS r (p, n, i, e)"
            " RETURNING partition) SELECT pg_notify(%s || p, '') FROM (SELECT DISTINCT partition AS p FROM queued) w",
            [
                source.pk,
                received_at,
                [p for p, _, _, _ in rows],
                [n for _, n, _, _ in rows],
                [i for _, _, i, _ in rows],
                [payload for _, _, _, payload in rows],
                f"{CHANNEL}_",
            ],
        )


@dataclass
class Pass:
    """What one pass over the queue claimed: the batches' ids and receipt times, for the worker's report."""

    batch_ids: list[int] = field(default_factory=list)
    received: list[datetime] = field(default_factory=list)
    result: IngestResult | None = None


def store_queued(
    max_events: int, *, first_partition: int = 0, only: list[int] | None = None, claimed: Pass | None = None
) -> Pass:
    """Claim the oldest queued batches of one partition (up to `max_events` events and
    TRACKING_QUEUE_PASS_IDENTITIES ids, at least one batch) and store them in one transaction. Partitions
    another worker is storing are passed over, starting from `first_partition`. `only` restricts the claim to
    these batch ids. `claimed` (filled in even if storing fails) says which batches the pass took."""
    claimed = claimed if claimed is not None else Pass()
    partitions = partition_count()

    def take() -> list[SourcedEvent]:
        claimed.batch_ids, claimed.received = [], []
        rows = []
        for offset in range(partitions):
            partition = (first_partition + offset) % partitions
            if _lock_partition_with_work(partition):
                rows = _claim(partition, max_events, only)
                if rows:
                    break
        sourced: list[SourcedEvent] = []
        for batch_id, source_id, received_at, payload in rows:
            claimed.batch_ids.append(batch_id)
            claimed.received.append(received_at)
            sourced.extend((source_id, event) for event in decode_events(payload))
        return sourced

    claimed.result = store_events(take)
    return claimed


def partition_count() -> int:
    """How many partitions to look at: TRACKING_QUEUE_PARTITIONS, or more while batches queued under a larger
    setting are still waiting (lowering the setting must not strand them)."""
    configured = max(1, settings.TRACKING_QUEUE_PARTITIONS)
    highest = QueuedBatch.objects.filter(error="", partition__gte=configured).aggregate(m=Max("partition"))["m"]
    return configured if highest is None else highest + 1


def _lock_partition_with_work(partition: int) -> bool:
    """Hold this partition until the transaction ends, if it has batches waiting and no other worker holds it
    (PostgreSQL; SQLite has one writer at a time anyway). An empty partition is not locked: a worker woken for
    it meanwhile must not find it held for the rest of this pass."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_try_advisory_xact_lock(%s, %s) WHERE EXISTS"
            " (SELECT 1 FROM sequences_queuedbatch WHERE partition = %s AND error = '')",
            [QUEUE_LOCK_CLASS, partition, partition],
        )
        row = cursor.fetchone()
        return bool(row and row[0])


def _claim(partition: int, max_events: int, only: list[int] | None) -> list[tuple[int, int, datetime, bytes]]:
    pending = QueuedBatch.objects.filter(partition=partition, error="").order_by("id")
    if only is not None:
        pending = pending.filter(id__in=only)
    chosen, events, identities = [], 0, 0
    max_identities = settings.TRACKING_QUEUE_PASS_IDENTITIES
    for batch_id, count, ids in pending.values_list("id", "event_count", "identity_count")[:500]:
        if chosen and (events + count > max_events or identities + ids > max_identities):
            break
        chosen.append(batch_id)
        events += count
        identities += ids
    if not chosen:
        return []
    if connection.vendor != "postgresql":
        rows = list(QueuedBatch.objects.filter(id__in=chosen).values_list("id", "source_id", "received_at", "events"))
        QueuedBatch.objects.filter(id__in=chosen).delete()
        return [(i, s, r, bytes(e)) for i, s, r, e in rows]
    with connection.cursor() as cursor:
        # Deleted now, gone for good at commit; a rollback (a failed pass) puts them back.
        cursor.execute(
            "DELETE FROM sequences_queuedbatch WHERE id = ANY(%s) RETURNING id, source_id, received_at, events",
            [chosen],
        )
        return sorted((i, s, r, bytes(e)) for i, s, r, e in cursor.fetchall())


def drain(
    max_events: int,
    on_pass: Callable[[Pass], None] | None = None,
    *,
    home: int = 0,
    until: float | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> int:
    """Store queued batches until none is left that this worker can claim, `until` (a time.monotonic()) passes
    or `should_stop()` says so (checked between passes); returns how many batches it stored. A pass that fails
    on its data is retried batch by batch, and a batch that fails on its own is set aside with its error
    (`QueuedBatch.error`) instead of blocking the queue."""
    stored = 0
    for turn in itertools.count():
        if (until is not None and time.monotonic() >= until) or (should_stop is not None and should_stop()):
            return stored
        _discard_wakeups()  # whatever they announced, this pass or the next finds
        claimed = Pass()
        try:
            # Start each pass at the next partition, so one worker alone serves every partition in turn.
            store_queued(max_events, first_partition=home + turn, claimed=claimed)
        except Exception as error:
            if _not_the_data(error) or not claimed.batch_ids:
                raise
            log.exception("tracking queue: a pass failed; storing its %s batches one at a time", len(claimed.batch_ids))
            stored += _isolate_failure(claimed.batch_ids, max_events, on_pass)
            continue
        if not claimed.batch_ids:
            return stored
        stored += len(claimed.batch_ids)
        if on_pass is not None:
            on_pass(claimed)
    raise AssertionError("unreachable")


def store_if_stale(older_than: timedelta, max_seconds: float) -> int:
    """The safety net beat runs (sequences.tasks): if queued events wait longer than `older_than` (no ingest worker
    running, or too few), store some here, for at most about `max_seconds`. Returns the batches stored."""
    oldest = QueuedBatch.objects.filter(error="").aggregate(m=Min("received_at"))["m"]
    if oldest is None or timezone.now() - oldest < older_than:
        return 0
    log.warning("tracking queue: events waiting since %s; is an ingest worker running?", oldest)
    return drain(settings.TRACKING_QUEUE_PASS_EVENTS, until=time.monotonic() + max_seconds)


def _not_the_data(error: Exception) -> bool:
    """A database error that is not about the rows (a lost connection, a migration not yet run...): every batch
    would fail alike, so none is set aside; the worker waits and tries again."""
    return isinstance(error, DatabaseError) and not isinstance(error, (DataError, IntegrityError))


def _isolate_failure(suspects: list[int], max_events: int, on_pass: Callable[[Pass], None] | None) -> int:
    """Store the failed pass's batches (pending again: the pass rolled back) one per transaction."""
    stored = 0
    for batch_id in suspects:
        try:
            done = store_queued(max_events, only=[batch_id])
        except Exception as error:
            if _not_the_data(error):
                raise
            log.exception("tracking queue: batch %s cannot be stored; set aside", batch_id)
            reason = "".join(traceback.format_exception_only(error)).strip()[:2000]
            with transaction.atomic():
                QueuedBatch.objects.filter(id=batch_id).update(error=f"{timezone.now():%Y-%m-%d %H:%M:%S}: {reason}")
            continue
        stored += len(done.batch_ids)
        if on_pass is not None and done.batch_ids:
            on_pass(done)
    return stored


def wait_for_work(timeout: float) -> None:
    """Sleep until a request queues something (PostgreSQL NOTIFY) or `timeout` seconds pass."""
    if connection.vendor != "postgresql":
        time.sleep(min(timeout, 0.2))
        return
    # The raw psycopg connection: its errors (a connection lost while idle) become Django's, as in a query.
    with connection.wrap_database_errors:
        for _ in connection.connection.notifies(timeout=timeout, stop_after=1):
            pass


def _discard_wakeups() -> None:
    """Drop the wake-ups psycopg kept while the worker was busy (it keeps every one, without bound)."""
    if connection.vendor != "postgresql" or connection.connection is None:
        return
    with connection.wrap_database_errors:
        for _ in connection.connection.notifies(timeout=0):
            pass


class Listener:
    """Which partitions' wake-ups this worker LISTENs for.

    Requests notify each partition they queued into on a channel of its own, so that a lone event wakes one
    worker, not all of them (a woken worker with nothing to do still costs a transaction). Each worker takes a
    home partition: the first no other worker holds (a session advisory lock, released with its connection).
    It listens for its home and for every partition nobody holds, which `refresh` re-reads after each wait, so a
    dead worker's partition is adopted within a poll interval. Whatever wakes it, a worker stores any partition
    it finds waiting, home first (`drain`)."""

    def __init__(self):
        self.home: int | None = None
        self.channels: set[int] = set()
        self.refreshed = -math.inf

    def reset(self) -> None:
        """After the connection was lost: its locks and LISTENs went with it."""
        self.home, self.channels, self.refreshed = None, set(), -math.inf

    def refresh(self, every: float = 0.0) -> int:
        """Take a home if none yet, and listen for it and for the partitions nobody holds now: at most once in
        `every` seconds (a wake-up need not read pg_locks). Returns the home partition."""
        if time.monotonic() - self.refreshed < every:
            return self.home or 0
        self.refreshed = time.monotonic()
        connection.ensure_connection()
        if connection.vendor != "postgresql":
            self.home = 0
            return 0
        partitions = partition_count()
        with connection.cursor() as cursor:
            if self.home is None:
                for partition in range(partitions):
                    cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [HOME_LOCK_CLASS, partition])
                    if cursor.fetchone()[0]:
                        self.home = partition
                        break
            cursor.execute(
                "SELECT objid::int FROM pg_locks WHERE locktype = 'advisory' AND classid = %s AND objsubid = 2"
                " AND granted AND pid <> pg_backend_pid()"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                [HOME_LOCK_CLASS],
            )
            others = {row[0] for row in cursor.fetchall()}
            wanted = {p for p in range(partitions) if p not in others} | ({self.home} - {None})
            for partition in sorted(wanted - self.channels):
                cursor.execute(f"LISTEN {CHANNEL}_{partition}")
            for partition in sorted(self.channels - wanted):
                cursor.execute(f"UNLISTEN {CHANNEL}_{partition}")
        self.channels = wanted
        return self.home or 0
