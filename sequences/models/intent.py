from django.conf import settings
from django.db import models

from sequences.models.contact import Contact


class ScoringModelQuerySet(models.QuerySet):
    def active(self) -> "ScoringModel | None":
        return self.filter(is_active=True).order_by("-version").first()


class ScoringModel(models.Model):
    """One version of the intent scoring configuration. Editing never changes a version: it adds one."""

    version = models.PositiveIntegerField(unique=True)
    config = models.JSONField(help_text="See sequences/scoring_config.py for the shape.")
    note = models.CharField(max_length=200, blank=True, default="")
    is_active = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    objects = ScoringModelQuerySet.as_manager()

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=models.Q(is_active=True), name="one_active_scoring_model"
            )
        ]

    def __str__(self) -> str:
        return f"v{self.version}"


class SessionSummary(models.Model):
    """Running facts about one session of a contact, folded event by event (see session_facts.py)."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="sessions")
    session_id = models.CharField(max_length=100)
    started_at = models.DateTimeField()
    last_event_at = models.DateTimeField()
    facts = models.JSONField(default=dict)
    # Quiet-session triggers (cart abandonment, page exit) have been looked for since the last event.
    quiet_checked = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["contact", "session_id"], name="session_summary_unique")]
        indexes = [
            models.Index(
                fields=["last_event_at"], condition=models.Q(quiet_checked=False), name="session_quiet_due_idx"
            )
        ]

    def __str__(self) -> str:
        return self.session_id


class ScoreHistory(models.Model):
    """The contact's score after each batch of events; a change of tier is marked."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="score_history")
    scored_at = models.DateTimeField()
    score = models.FloatField()
    tier = models.CharField(max_length=10)
    previous_tier = models.CharField(max_length=10, blank=True, default="")
    model_version = models.PositiveIntegerField(null=True)

    class Meta:
        indexes = [models.Index(fields=["contact", "-scored_at"], name="score_history_contact_idx")]

    def __str__(self) -> str:
        return f"{self.score:g} ({self.tier})"

    @property
    def tier_changed(self) -> bool:
        return self.previous_tier != self.tier


class TriggerType(models.TextChoices):
    CART_ABANDONED = "cart_abandoned", "Cart abandoned"
    CONTENT_DOWNLOADED = "content_downloaded", "Content downloaded"
    PAGE_EXIT = "page_exit", "Page exit"
    FORM_SUBMITTED = "form_submitted", "Form submitted"
    LONG_SESSION = "long_session", "Long session"
    LAPSED = "lapsed", "Lapsed user"


class TriggerOccurrence(models.Model):
    """A trigger that happened to a contact: recorded once per occurrence (unique key)."""

    class Status(models.TextChoices):
        FIRED = "fired", "Fired"
        WAITING_FOR_EMAIL = "waiting_for_email", "Waiting for an email address"

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="triggers")
    type = models.CharField(max_length=30, choices=TriggerType.choices)
    key = models.CharField(max_length=250, help_text="What makes this occurrence unique, e.g. the cart id.")
    occurred_at = models.DateTimeField()
    detected_at = models.DateTimeField()
    status = models.CharField(max_length=20, choices=Status.choices)
    fired_at = models.DateTimeField(null=True, blank=True)
    score = models.FloatField()
    tier = models.CharField(max_length=10)
    facts = models.JSONField(default=dict)
    # Fired occurrences wait here until the enrolment task has matched them to sequences.
    enrolment_checked = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["contact", "key"], name="trigger_occurrence_once")]
        indexes = [
            models.Index(fields=["contact", "-occurred_at"], name="trigger_contact_idx"),
            models.Index(fields=["type", "-occurred_at"], name="trigger_type_idx"),
            models.Index(
                fields=["detected_at"],
                condition=models.Q(status="fired", enrolment_checked=False),
                name="trigger_to_enrol_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_type_display()} ({self.key})"
