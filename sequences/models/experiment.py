from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from sequences.models.copy import CopyVariant
from sequences.models.sequence import Step


class Experiment(models.Model):
    """A randomised test on one step: contacts are split between arms by a hash of (experiment, contact), so a
    contact always lands in the same arm, and the arm is recorded on each message (analytics reads it)."""

    class Kind(models.TextChoices):
        TIMING = "timing", "Send time"
        COPY = "copy", "Copy variant"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        STOPPED = "stopped", "Stopped"

    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="experiments")
    name = models.CharField(max_length=150)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.TIMING)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["step"], condition=Q(status="running"), name="one_running_experiment_per_step"
            )
        ]

    def __str__(self) -> str:
        return self.name


class ExperimentArm(models.Model):
    class Timing(models.TextChoices):
        AT_ONCE = "at_once", "Send at once (no preferred hours)"
        WINDOW = "window", "Send in the engagement window"

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="arms")
    name = models.CharField(max_length=100)
    is_baseline = models.BooleanField(default=False, help_text="The arm the others are compared with")
    weight = models.PositiveSmallIntegerField(default=50, validators=[MinValueValidator(1), MaxValueValidator(100)])
    timing = models.CharField(max_length=10, choices=Timing.choices, blank=True, default="")
    preferred_start = models.TimeField(null=True, blank=True, help_text="Engagement window: from (local)")
    preferred_end = models.TimeField(null=True, blank=True, help_text="Engagement window: until (local)")
    copy_variant = models.ForeignKey(CopyVariant, null=True, blank=True, on_delete=models.SET_NULL, related_name="arms")

    class Meta:
        ordering = ["experiment", "-is_baseline", "pk"]

    def __str__(self) -> str:
        return f"{self.experiment}: {self.name}"
