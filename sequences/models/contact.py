from django.db import models
from django.db.models import Q

from sequences.models.account import validate_time_zone


class SubscriptionStatus(models.TextChoices):
    SUBSCRIBED = "subscribed", "Subscribed"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
    BOUNCED = "bounced", "Bounced"
    COMPLAINED = "complained", "Complained"


class Contact(models.Model):
    """A person on the site: known by the site's `user_id` and/or by the anonymous ids merged into it."""

    user_id = models.CharField(max_length=255, null=True, blank=True)
    email = models.EmailField(max_length=254, blank=True, default="")
    first_name = models.CharField(max_length=150, blank=True, default="")
    last_name = models.CharField(max_length=150, blank=True, default="")
    time_zone = models.CharField(max_length=64, blank=True, default="", validators=[validate_time_zone])
    lifecycle_stage = models.SlugField(max_length=50, blank=True, default="")
    traits = models.JSONField(default=dict, blank=True)
    subscription_status = models.CharField(
        max_length=20, choices=SubscriptionStatus.choices, default=SubscriptionStatus.SUBSCRIBED
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    # Server-side sessionisation state: the current session and when its last event happened.
    session_id = models.CharField(max_length=100, blank=True, default="")
    session_last_event_at = models.DateTimeField(null=True, blank=True)
    # Intent as of the latest event (decay is applied when read; see intent.py).
    intent_score = models.FloatField(null=True, blank=True)
    intent_tier = models.CharField(max_length=10, blank=True, default="")
    intent_scored_at = models.DateTimeField(null=True, blank=True)
    # The facts the score was computed from, kept so the score can be explained and re-scored (what-if).
    intent_facts = models.JSONField(default=dict, blank=True)
    categories_seen = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user_id"], condition=Q(user_id__isnull=False), name="contact_user_id_unique"
            )
        ]
        indexes = [
            models.Index(fields=["email"], name="contact_email_idx"),
            models.Index(fields=["-last_seen_at"], name="contact_last_seen_idx"),
            models.Index(fields=["-intent_scored_at"], name="contact_scored_idx"),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        full = f"{self.first_name} {self.last_name}".strip()
        return full or self.email or self.user_id or f"Anonymous #{self.pk}"

    @property
    def is_anonymous(self) -> bool:
        return not self.user_id


class AnonymousId(models.Model):
    """An anonymous id (device/browser) that belongs to a contact; identify/alias merges move these."""

    value = models.CharField(max_length=255, unique=True)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="anonymous_ids")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.value
