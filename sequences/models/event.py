from django.db import models

from sequences.models.contact import Contact
from sequences.models.write_key import WriteKey


class EventType(models.TextChoices):
    TRACK = "track"
    PAGE = "page"
    SCREEN = "screen"
    IDENTIFY = "identify"
    GROUP = "group"
    ALIAS = "alias"


class Event(models.Model):
    """One behavioural event as received by the tracking API."""

    # No index of their own: the unique (source, message_id) and timeline (contact, -occurred_at) indexes lead
    # with these columns and serve every lookup by them. No database constraint on source: write keys are revoked,
    # never deleted (and PROTECT still guards a delete through Django), while checking it cost every event row a
    # lock on the one write key row that all ingest workers share. Together: 2.4 against 1.8 ms of PostgreSQL
    # CPU per 100 rows COPYed (docs/performance.md).
    source = models.ForeignKey(
        WriteKey, on_delete=models.PROTECT, related_name="events", db_index=False, db_constraint=False
    )
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="events", db_index=False)
    type = models.CharField(max_length=10, choices=EventType.choices)
    # track: the event name; page/screen: the page name (may be blank); others: blank.
    name = models.CharField(max_length=200, blank=True, default="")
    properties = models.JSONField(default=dict, blank=True)
    # Segment's context object: page, userAgent, ip, timezone, library, ...
    context = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField(help_text="Client time corrected for clock skew, as Segment does.")
    received_at = models.DateTimeField()
    message_id = models.CharField(max_length=200)
    session_id = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "message_id"], name="event_message_id_unique_per_source")
        ]
        indexes = [
            models.Index(fields=["contact", "-occurred_at"], name="event_contact_timeline_idx"),
            # The dashboard's "last 24 hours". (Every other read of events starts from a contact.)
            models.Index(fields=["received_at"], name="event_received_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.name}".strip()


class RejectedEvent(models.Model):
    """An event the tracking API refused, kept so an admin can see what a source got wrong."""

    source = models.ForeignKey(WriteKey, on_delete=models.CASCADE, null=True, blank=True, related_name="rejected")
    received_at = models.DateTimeField(db_index=True)
    endpoint = models.CharField(max_length=20)
    batch_index = models.PositiveIntegerField(null=True, blank=True)
    reason = models.TextField()
    # The first few KB of what was sent, as text (it may not even be JSON).
    payload_excerpt = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return self.reason


class QueuedBatch(models.Model):
    """Events a /v1/ request accepted and has not stored yet: with TRACKING_QUEUE on, requests only validate and
    queue, and `manage.py ingest_worker` stores and scores whatever has queued up, many requests at a time."""

    # No index on source: the queue is read by partition and id only, and every index is a write per request.
    # No database constraint either, as for Event.source.
    source = models.ForeignKey(
        WriteKey, on_delete=models.PROTECT, related_name="queued_batches", db_index=False, db_constraint=False
    )
    # A person's events always go to the same partition (by a hash of their id), and a worker stores one partition
    # at a time: two workers then rarely wait for each other's locks on the same contacts.
    partition = models.PositiveSmallIntegerField(default=0)
    received_at = models.DateTimeField()
    event_count = models.PositiveIntegerField()
    # Distinct user/anonymous ids in the batch: a pass takes an advisory lock for each, and PostgreSQL's lock
    # table is finite (max_locks_per_transaction x max_connections), so passes are bounded by this too.
    identity_count = models.PositiveIntegerField(default=0)
    # The validated events, msgpack-encoded (sequences.tracking.queue), so the worker need not validate again.
    events = models.BinaryField()
    # Set when storing this batch failed for a reason a retry would not fix; the worker then skips it.
    error = models.TextField(blank=True, default="")

    class Meta:
        indexes = [
            models.Index(fields=["partition", "id"], name="queuedbatch_pending_idx", condition=models.Q(error=""))
        ]

    def __str__(self) -> str:
        return f"{self.event_count} events from {self.source_id} at {self.received_at:%Y-%m-%d %H:%M:%S}"
