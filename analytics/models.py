"""Rollups: daily aggregates of what sequences wrote, so dashboards read a few thousand rows, not raw events.

Analytics reads sequences' tables and writes only these. Ids are plain integers (no foreign keys): a rollup
must not stop a marketer from deleting a sequence, and a rebuild recomputes everything anyway.
"""

from django.db import models


class DailyStats(models.Model):
    """Messages sent (or withheld, for the control group) on one day, by sequence, step, segment, variant and arm.

    Message-level counts (opened, clicked, converted...) say how many messages had at least one such event.
    Enrolment-level counts sit on each enrolment's first message: `enrolments` counts them and
    `enrolments_converted` how many of those enrolments led to an order credited to any of their messages.
    """

    day = models.DateField()
    sequence_id = models.IntegerField()
    step_id = models.IntegerField()
    step_position = models.PositiveSmallIntegerField()
    segment_id = models.IntegerField(null=True)
    variant = models.CharField(max_length=100, blank=True, default="")
    arm_id = models.IntegerField(null=True)
    control = models.BooleanField(help_text="Withheld from the holdout group")
    messages = models.PositiveIntegerField(default=0)
    opened = models.PositiveIntegerField(default=0)
    opened_human = models.PositiveIntegerField(default=0, help_text="Opened, not counting privacy-proxy opens")
    clicked = models.PositiveIntegerField(default=0)
    converted = models.PositiveIntegerField(default=0, help_text="An order was credited to this message")
    revenue = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    unsubscribed = models.PositiveIntegerField(default=0)
    complained = models.PositiveIntegerField(default=0)
    bounced = models.PositiveIntegerField(default=0)
    enrolments = models.PositiveIntegerField(default=0)
    enrolments_converted = models.PositiveIntegerField(default=0)
    enrolment_revenue = models.DecimalField(max_digits=14, decimal_places=2, default=0)

    class Meta:
        indexes = [models.Index(fields=["day", "sequence_id"], name="daily_stats_partition_idx")]

    def __str__(self) -> str:
        return f"{self.day} sequence {self.sequence_id} step {self.step_id}: {self.messages} messages"


class SendTimeStats(models.Model):
    """Sent messages by the contact's local send hour and by how many emails they had in the 48 h before."""

    day = models.DateField()
    sequence_id = models.IntegerField()
    segment_id = models.IntegerField(null=True)
    local_hour = models.SmallIntegerField(help_text="0-23; -1 when unknown")
    recent_sends = models.SmallIntegerField(help_text="0, 1, 2 or 3 (3 or more); -1 when unknown")
    messages = models.PositiveIntegerField(default=0)
    opened = models.PositiveIntegerField(default=0)
    opened_human = models.PositiveIntegerField(default=0)
    clicked = models.PositiveIntegerField(default=0)
    converted = models.PositiveIntegerField(default=0)
    unsubscribed = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["day", "sequence_id"], name="send_time_stats_partition_idx")]

    def __str__(self) -> str:
        return f"{self.day} sequence {self.sequence_id} hour {self.local_hour}: {self.messages} messages"


class RollupState(models.Model):
    """How far the incremental rollup has read: the last email event (open, click, order...) it has seen."""

    email_event_watermark = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"rollups read up to email event {self.email_event_watermark}"
