from django.db import models
from django.db.models import Q

from sequences.models.sequence import Step


class CopyVariant(models.Model):
    """One version of a step's copy, chosen for a contact when its condition holds (see copy_selection.py).

    Copy fields are templates in the sandboxed copy language (copy_templates.py); they are checked when saved.
    """

    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="variants")
    name = models.CharField(max_length=100)
    is_default = models.BooleanField(default=False, help_text="Catches every contact no other variant matched")
    priority = models.PositiveIntegerField(default=10, help_text="Lower is tried first")
    condition = models.JSONField(default=dict, blank=True, help_text="Condition language; empty for the default")
    reengagement = models.BooleanField(
        default=False, help_text="Used only when the engagement-decay gate asks for re-engagement copy"
    )
    subject = models.CharField(max_length=300)
    preheader = models.CharField(max_length=300, blank=True, default="")
    opening = models.TextField(blank=True, default="", help_text="The first line, e.g. “You stopped at checkout…”")
    body = models.TextField(blank=True, default="")
    cta_text = models.CharField("call to action", max_length=100, blank=True, default="")
    cta_url = models.CharField("call to action URL", max_length=2000, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["step", "-is_default", "priority", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["step"], condition=Q(is_default=True), name="one_default_variant_per_step"),
            models.UniqueConstraint(fields=["step", "name"], name="variant_name_unique_per_step"),
        ]

    def __str__(self) -> str:
        return f"{self.step}: {self.name}"
