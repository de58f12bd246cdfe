"""What the send guards need to know about contacts' past emails, loaded for a whole chunk at once."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.db.models import Count, Min

from sequences.models import EmailEvent, Message


class SendHistory:
    """What the guards need about these contacts' past sends, loaded in three queries for a whole chunk."""

    def __init__(self, messages: list[Message], *, now: datetime, window: timedelta):
        contact_ids = {m.contact_id for m in messages}
        enrolment_ids = {m.enrolment_id for m in messages}
        self.recent: dict[int, list[datetime]] = defaultdict(list)
        for contact_id, sent_at in Message.objects.filter(
            contact_id__in=contact_ids, status=Message.Status.SENT, sent_at__gt=now - window
        ).values_list("contact_id", "sent_at"):
            self.recent[contact_id].append(sent_at)
        self.stage_counts: dict[tuple[int, str], int] = defaultdict(int)
        for row in (
            Message.objects.filter(contact_id__in=contact_ids, status=Message.Status.SENT)
            .values("contact_id", "enrolment__sequence__funnel_stage")
            .annotate(n=Count("pk"))
        ):
            self.stage_counts[(row["contact_id"], row["enrolment__sequence__funnel_stage"])] = row["n"]
        self.first_sent: dict[int, datetime] = {
            row["enrolment_id"]: row["first"]
            for row in Message.objects.filter(enrolment_id__in=enrolment_ids, status=Message.Status.SENT)
            .values("enrolment_id")
            .annotate(first=Min("sent_at"))
        }
        self.engaged = set(
            EmailEvent.objects.filter(
                message__enrolment_id__in=enrolment_ids,
                kind__in=[EmailEvent.Kind.OPEN, EmailEvent.Kind.CLICK],
                machine_open=False,
            ).values_list("message__enrolment_id", flat=True)
        )

    def record(self, message: Message, sent_at: datetime) -> None:
        self.recent[message.contact_id].append(sent_at)
        self.stage_counts[(message.contact_id, message.enrolment.sequence.funnel_stage)] += 1
        self.first_sent.setdefault(message.enrolment_id, sent_at)
