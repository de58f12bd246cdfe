"""Account-wide settings a marketer or operator can change in the UI."""

from datetime import time
from zoneinfo import available_timezones

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models


def validate_time_zone(value: str) -> None:
    if value not in available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone (e.g. Europe/London).")


class Account(models.Model):
    """The single account of this installation (self-hosted: one brand, one row)."""

    name = models.CharField(max_length=200, default="My shop")
    time_zone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_time_zone],
        help_text="Used for contacts whose own time zone is unknown.",
    )
    session_gap_minutes = models.PositiveIntegerField(
        default=30,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 60)],
        help_text="Events further apart than this start a new session when the site sends no session id.",
    )

    # Sending: quiet hours in the contact's local time, caps and gates (the document's defaults).
    quiet_hours_start = models.TimeField(default=time(21, 0), help_text="No email from this local time...")
    quiet_hours_end = models.TimeField(default=time(8, 0), help_text="...until this local time.")
    cap_per_funnel_stage = models.PositiveSmallIntegerField(default=3, validators=[MinValueValidator(1)])
    cap_per_48_hours = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1)], help_text="Across all sequences, in any rolling 48 hours."
    )
    decay_wait_hours = models.PositiveSmallIntegerField(
        default=72, help_text="No open or click after the first email: the next waits this long after it."
    )
    activity_gate_minutes = models.PositiveSmallIntegerField(
        default=5, help_text="Do not email someone active on the site in the last this many minutes."
    )
    attribution_days = models.PositiveSmallIntegerField(
        default=5, validators=[MinValueValidator(1)], help_text="An order this many days after an email credits it."
    )
    from_email = models.CharField(max_length=200, blank=True, default="", help_text="Sender; blank: DEFAULT_FROM_EMAIL")
    # Brand: the email layout's logo, colour and footer (the CAN-SPAM/GDPR footer needs a postal address).
    logo_url = models.URLField(max_length=500, blank=True, default="", help_text="https address of your logo")
    brand_color = models.CharField(
        max_length=7,
        blank=True,
        default="#1d4ed8",
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", "Use a colour like #1d4ed8.")],
        help_text="Buttons and links",
    )
    website_url = models.URLField(max_length=500, blank=True, default="")
    postal_address = models.TextField(blank=True, default="", help_text="Shown in every email's footer")

    class Meta:
        verbose_name = "account"

    def __str__(self) -> str:
        return self.name

    @classmethod
    def current(cls) -> "Account":
        account, _ = cls.objects.get_or_create(pk=1)
        return account


DEFAULT_LIFECYCLE_STAGES = [
    ("subscriber", "Subscriber"),
    ("lead", "Lead"),
    ("mql", "Marketing qualified lead (MQL)"),
    ("sql", "Sales qualified lead (SQL)"),
    ("opportunity", "Opportunity"),
    ("customer", "Customer"),
    ("repeat_customer", "Repeat customer"),
    ("lapsed", "Lapsed"),
]


class LifecycleStage(models.Model):
    """The CRM stages contacts move through; an editable list (seeded with the usual eight)."""

    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "slug"]

    def __str__(self) -> str:
        return self.name
