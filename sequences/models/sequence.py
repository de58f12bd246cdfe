from django.db import models
from django.db.models import Q

from sequences.models.contact import Contact
from sequences.models.intent import TriggerOccurrence, TriggerType


class FunnelStage(models.TextChoices):
    AWARENESS = "awareness", "Awareness"
    CONSIDERATION = "consideration", "Consideration"
    DECISION = "decision", "Decision (cart and checkout)"
    RETENTION = "retention", "Retention and win-back"


class Segment(models.Model):
    """Who a sequence speaks to, and when: a condition plus a send window after the trigger."""

    name = models.CharField(max_length=100, unique=True)
    condition = models.JSONField(default=dict, help_text="Condition language: trigger.*, score.*, contact.*, session.*")
    delay_min_minutes = models.PositiveIntegerField(default=0)
    delay_max_minutes = models.PositiveIntegerField(default=0)
    preferred_start = models.TimeField(null=True, blank=True, help_text="Preferred local hours: from")
    preferred_end = models.TimeField(null=True, blank=True, help_text="Preferred local hours: until")
    expected_lift = models.CharField(max_length=100, blank=True, default="", help_text="Your note, e.g. +38% open rate")
    example_trigger = models.CharField(max_length=300, blank=True, default="")
    notes = models.TextField(blank=True, default="")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class Sequence(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        ARCHIVED = "archived", "Archived"

    name = models.CharField(max_length=150, unique=True)
    entry_trigger = models.CharField(max_length=30, choices=TriggerType.choices)
    segments = models.ManyToManyField(Segment, blank=True, related_name="sequences")
    funnel_stage = models.CharField(max_length=20, choices=FunnelStage.choices, default=FunnelStage.DECISION)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    holdout_percent = models.PositiveSmallIntegerField(default=10, help_text="Share of enrolments kept as control")
    exit_on_order = models.BooleanField(default=True, help_text="An order exits the enrolment (of that cart if known)")
    allow_reentry = models.BooleanField(default=True)
    reentry_after_days = models.PositiveIntegerField(default=7, help_text="Minimum days between two enrolments")
    version = models.PositiveIntegerField(default=1, help_text="Bumped by every edit; enrolments keep theirs")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class LiveStepManager(models.Manager):
    """Steps still in the sequence. Removed steps are kept (their sent emails are history) but not used."""

    def get_queryset(self):
        return super().get_queryset().filter(removed_at__isnull=True)


class Step(models.Model):
    class DelayFrom(models.TextChoices):
        SEGMENT = "segment", "the segment's send window"
        TRIGGER = "trigger", "the trigger"
        PREVIOUS = "previous", "the previous email"

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField(default=0)
    name = models.CharField(max_length=100, default="Email")
    delay_from = models.CharField(max_length=10, choices=DelayFrom.choices, default=DelayFrom.PREVIOUS)
    delay_min_minutes = models.PositiveIntegerField(default=0)
    delay_max_minutes = models.PositiveIntegerField(default=0)
    preferred_start = models.TimeField(null=True, blank=True, help_text="Engagement window: from (local)")
    preferred_end = models.TimeField(null=True, blank=True, help_text="Engagement window: until (local)")
    removed_at = models.DateTimeField(null=True, blank=True)

    objects = LiveStepManager()
    all_objects = models.Manager()  # noqa: DJ012  (a manager, not a field)

    class Meta:
        ordering = ["sequence", "position", "pk"]
        base_manager_name = "all_objects"

    def __str__(self) -> str:
        return f"{self.sequence} #{self.position + 1}"


class Enrolment(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        COMPLETED = "completed", "Completed"
        EXITED = "exited", "Exited"

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="enrolments")
    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="enrolments")
    sequence_version = models.PositiveIntegerField()
    segment = models.ForeignKey(Segment, null=True, on_delete=models.SET_NULL, related_name="enrolments")
    trigger = models.ForeignKey(TriggerOccurrence, null=True, on_delete=models.SET_NULL, related_name="enrolments")
    key = models.CharField(
        max_length=250, help_text="e.g. the cart id (plus the abandonment, for a re-entry): each key enrols once"
    )
    held_out = models.BooleanField(default=False, help_text="Control group: messages are withheld, not sent")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    exit_reason = models.CharField(max_length=200, blank=True, default="")
    enrolled_at = models.DateTimeField()
    exited_at = models.DateTimeField(null=True, blank=True)
    score = models.FloatField(default=0)
    tier = models.CharField(max_length=10, blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["sequence", "contact", "key"], name="enrolment_once_per_key")]
        indexes = [models.Index(fields=["contact", "status"], name="enrolment_contact_idx")]

    def __str__(self) -> str:
        return f"{self.contact} in {self.sequence}"


class Message(models.Model):
    """One email of one enrolment. Its state moves by conditional UPDATEs only (see delivery.py)."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"
        CANCELLED = "cancelled", "Cancelled"
        WITHHELD = "withheld", "Withheld (control group)"

    enrolment = models.ForeignKey(Enrolment, on_delete=models.CASCADE, related_name="messages")
    # PROTECT: a step is never deleted while emails reference it; the builder removes steps softly.
    step = models.ForeignKey(Step, on_delete=models.PROTECT, related_name="messages")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="messages")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    send_at = models.DateTimeField()
    priority = models.FloatField(default=0, help_text="The trigger's intent score: when caps bite, higher wins")
    timing_reasons = models.JSONField(default=list)
    decisions = models.JSONField(default=list, help_text="Every hold or skip with its reason, in order")
    reason = models.CharField(max_length=300, blank=True, default="", help_text="Why it is held, skipped or failed")
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    smtp_started_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # The next step was scheduled (or the enrolment completed) after this one was sent or skipped.
    followed_up = models.BooleanField(default=False)
    subject = models.CharField(max_length=300, blank=True, default="")
    variant = models.CharField(max_length=100, blank=True, default="", help_text="Name of the copy variant sent")
    copy_variant = models.ForeignKey(
        "sequences.CopyVariant", null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    copy_trace = models.JSONField(default=list, help_text="Why that variant won: each variant's condition checked")
    experiment_arm = models.ForeignKey(
        "sequences.ExperimentArm", null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    # Recorded when sent, for analytics: the contact's local hour, and emails they got in the 48 h before.
    local_hour = models.PositiveSmallIntegerField(null=True, blank=True)
    recent_sends = models.PositiveSmallIntegerField(null=True, blank=True)
    links = models.JSONField(default=list, help_text="The URLs this email contains: the only click targets")
    message_id_header = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "send_at"], name="message_due_idx"),
            models.Index(fields=["contact", "-send_at"], name="message_contact_idx"),
            models.Index(fields=["contact", "sent_at"], condition=Q(status="sent"), name="message_contact_sent_idx"),
            models.Index(
                fields=["claimed_at"], condition=Q(status="sent", followed_up=False), name="message_follow_up_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.step} to {self.contact} ({self.status})"


class OutboxEmail(models.Model):
    """What the database email backend "sent" (the demo's outbox; also handy to inspect)."""

    message_id_header = models.CharField(max_length=200, db_index=True)
    to = models.CharField(max_length=300)
    from_email = models.CharField(max_length=300)
    subject = models.CharField(max_length=300)
    headers = models.JSONField(default=dict)
    text = models.TextField()
    html = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.subject


class EmailEvent(models.Model):
    """Opens, clicks, unsubscribes, bounces, complaints and conversions that came back for a message."""

    class Kind(models.TextChoices):
        OPEN = "open", "Opened"
        CLICK = "click", "Clicked"
        UNSUBSCRIBE = "unsubscribe", "Unsubscribed"
        BOUNCE = "bounce", "Bounced"
        COMPLAINT = "complaint", "Complained"
        CONVERSION = "conversion", "Converted"

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="email_events")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    occurred_at = models.DateTimeField()
    url = models.URLField(max_length=2000, blank=True, default="")
    revenue = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    machine_open = models.BooleanField(default=False, help_text="Likely a privacy proxy, not a person")
    details = models.JSONField(default=dict)

    class Meta:
        indexes = [models.Index(fields=["message", "kind"], name="email_event_message_idx")]

    def __str__(self) -> str:
        return f"{self.kind} of {self.message_id}"
