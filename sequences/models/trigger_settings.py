from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

# Segment's e-commerce spec event names, plus the two content events; editable by the marketer.
DEFAULT_EVENT_ACTIONS = {
    "Product Viewed": "product_viewed",
    "Cart Viewed": "cart_viewed",
    "Product Added": "product_added",
    "Checkout Started": "checkout_started",
    "Order Completed": "order_completed",
    "Content Downloaded": "content_downloaded",
    "Form Submitted": "form_submitted",
}
DEFAULT_PAGE_GROUPS = [
    {"name": "Pricing", "path_prefix": "/pricing"},
    {"name": "Product pages", "path_prefix": "/products/"},
]


def default_event_actions() -> dict:
    return dict(DEFAULT_EVENT_ACTIONS)


def default_page_groups() -> list:
    return [dict(group) for group in DEFAULT_PAGE_GROUPS]


class TriggerSettings(models.Model):
    """How events become triggers. One row (the account's)."""

    event_actions = models.JSONField(
        default=default_event_actions, help_text="Event name -> funnel action (see scoring_config.ACTIONS)."
    )
    cart_abandon_minutes = models.PositiveIntegerField(
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 60)],
        help_text="Minutes of inactivity after cart or checkout activity, with no order, that make an abandonment.",
    )
    page_exit_minutes = models.PositiveIntegerField(
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 60)],
        help_text="Minutes of inactivity after a page of a tracked group, with no conversion, that count as an exit.",
    )
    page_groups = models.JSONField(default=default_page_groups, help_text="Tracked page groups: name and path prefix.")
    long_session_minutes = models.PositiveIntegerField(
        default=6, validators=[MinValueValidator(1), MaxValueValidator(24 * 60)]
    )
    lapsed_days = models.PositiveIntegerField(default=7, validators=[MinValueValidator(1), MaxValueValidator(365)])
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "trigger settings"

    def __str__(self) -> str:
        return "Trigger settings"

    @classmethod
    def current(cls) -> "TriggerSettings":
        settings, _ = cls.objects.get_or_create(pk=1)
        return settings
