"""What comes back from sent email: opens, clicks, unsubscribes, bounces and complaints (shell).

Each is kept as an EmailEvent on the message and, so the contact's timeline tells the whole story, as an Event
too. Bounces and complaints arrive from the ESP through django-anymail's tracking webhooks.
"""

from __future__ import annotations

import logging

from anymail.signals import tracking
from django.dispatch import receiver
from django.utils import timezone

from sequences.enrolment import exit_all_for_contact
from sequences.models import Contact, EmailEvent, Event, Message, SubscriptionStatus, WriteKey

log = logging.getLogger(__name__)
EMAIL_SOURCE_NAME = "Email tracking"


def _email_source() -> WriteKey:
    source = WriteKey.objects.filter(name=EMAIL_SOURCE_NAME, revoked_at__isnull=False).first()
    if source is None:
        # A revoked key: events it records cannot be forged through /v1/, it only labels their origin.
        source = WriteKey.objects.create(name=EMAIL_SOURCE_NAME, revoked_at=timezone.now())
    return source


# The timeline events an email's feedback adds (track events from the "Email tracking" source).
EMAIL_EVENT_NAMES = {
    "open": "Email Opened",
    "click": "Email Link Clicked",
    "unsubscribe": "Unsubscribed",
    "bounce": "Email Bounced",
    "complaint": "Email Marked as Spam",
}


def record_email_event(message: Message, kind: str, *, url: str = "", machine_open: bool = False, details=None):
    now = timezone.now()
    email_event = EmailEvent.objects.create(
        message=message, kind=kind, occurred_at=now, url=url[:2000], machine_open=machine_open, details=details or {}
    )
    Event.objects.create(
        source=_email_source(),
        contact_id=message.contact_id,
        type="track",
        name=EMAIL_EVENT_NAMES.get(kind, kind),
        properties={"message_id": message.pk, "subject": message.subject, "url": url, "machine_open": machine_open},
        occurred_at=now,
        received_at=now,
        message_id=f"email-{kind}-{email_event.pk}",
    )
    return email_event


def unsubscribe_contact(message: Message, *, source: str) -> None:
    contact = message.contact
    if contact.subscription_status != SubscriptionStatus.UNSUBSCRIBED:
        Contact.objects.filter(pk=contact.pk).update(subscription_status=SubscriptionStatus.UNSUBSCRIBED)
        record_email_event(message, EmailEvent.Kind.UNSUBSCRIBE, details={"via": source})
    exit_all_for_contact(contact_id=contact.pk, reason="unsubscribed", now=timezone.now())


@receiver(tracking)
def anymail_tracking(sender, event, esp_name, **kwargs):
    """Bounces and complaints from the ESP suppress the contact; opens and clicks are ours already."""
    kinds = {
        "bounced": EmailEvent.Kind.BOUNCE,
        "rejected": EmailEvent.Kind.BOUNCE,
        "complained": EmailEvent.Kind.COMPLAINT,
    }
    kind = kinds.get(event.event_type)
    if kind is None:
        return
    message = Message.objects.filter(message_id_header__icontains=(event.message_id or "").strip("<>")).first()
    if message is None and event.recipient:
        message = (
            Message.objects.filter(contact__email__iexact=event.recipient, status=Message.Status.SENT)
            .order_by("-sent_at")
            .first()
        )
    if message is None:
        log.info("anymail %s for unknown message %s", event.event_type, event.message_id)
        return
    status = SubscriptionStatus.BOUNCED if kind == EmailEvent.Kind.BOUNCE else SubscriptionStatus.COMPLAINED
    Contact.objects.filter(pk=message.contact_id).update(subscription_status=status)
    record_email_event(message, kind, details={"esp": esp_name, "reason": event.description or ""})
    exit_all_for_contact(contact_id=message.contact_id, reason=event.event_type, now=timezone.now())
