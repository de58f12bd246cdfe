"""Forms for the sequence builder and segments (delays are edited in hours, stored in minutes)."""

from __future__ import annotations

import json
from decimal import Decimal

from django import forms

from sequences import conditions
from sequences.models import Account, Segment, Sequence, Step


def _hours_field(label: str) -> forms.DecimalField:
    return forms.DecimalField(label=label, min_value=0, max_value=24 * 60, decimal_places=2, initial=0)


class _DelayHoursMixin:
    """delay_min_hours / delay_max_hours on the form <-> delay_*_minutes on the model."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["delay_min_hours"] = Decimal(self.instance.delay_min_minutes) / 60
            self.initial["delay_max_hours"] = Decimal(self.instance.delay_max_minutes) / 60

    def clean(self):
        cleaned = super().clean()
        low, high = cleaned.get("delay_min_hours"), cleaned.get("delay_max_hours")
        if low is not None and high is not None and high < low:
            self.add_error("delay_max_hours", "The window's end must not be before its start.")
        start, end = cleaned.get("preferred_start"), cleaned.get("preferred_end")
        if (start is None) != (end is None):
            self.add_error("preferred_end", "Give both ends of the preferred hours, or neither.")
        return cleaned

    def save(self, commit=True):
        instance = super().save(commit=False)
        instance.delay_min_minutes = int(self.cleaned_data["delay_min_hours"] * 60)
        instance.delay_max_minutes = int(self.cleaned_data["delay_max_hours"] * 60)
        if commit:
            instance.save()
            self.save_m2m()
        return instance


class SequenceForm(forms.ModelForm):
    class Meta:
        model = Sequence
        fields = [
            "name",
            "entry_trigger",
            "segments",
            "funnel_stage",
            "holdout_percent",
            "exit_on_order",
            "allow_reentry",
            "reentry_after_days",
        ]
        widgets = {"segments": forms.CheckboxSelectMultiple}
        labels = {"holdout_percent": "Holdout (control group) %", "entry_trigger": "Starts when"}

    def clean_holdout_percent(self):
        value = self.cleaned_data["holdout_percent"]
        if value > 90:
            raise forms.ValidationError("Keep at most 90% as control.")
        return value


class StepForm(_DelayHoursMixin, forms.ModelForm):
    delay_min_hours = _hours_field("Wait at least (hours)")
    delay_max_hours = _hours_field("and at most (hours)")
    field_order = [
        "name",
        "delay_from",
        "delay_min_hours",
        "delay_max_hours",
        "preferred_start",
        "preferred_end",
    ]

    class Meta:
        model = Step
        fields = [
            "name",
            "delay_from",
            "preferred_start",
            "preferred_end",
        ]
        labels = {
            "delay_from": "Counted from",
            "preferred_start": "Engagement window from (local)",
            "preferred_end": "until",
        }
        widgets = {
            "preferred_start": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "preferred_end": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        }
        help_texts = {
            "preferred_start": "Optional: send only inside these local hours, e.g. 19:00 to 21:00.",
            "preferred_end": "",
        }


class SegmentForm(_DelayHoursMixin, forms.ModelForm):
    delay_min_hours = _hours_field("Send at least (hours after the trigger)")
    delay_max_hours = _hours_field("and at most (hours)")
    condition = forms.CharField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Segment
        fields = ["name", "condition", "preferred_start", "preferred_end", "expected_lift", "example_trigger", "notes"]
        widgets = {
            "preferred_start": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "preferred_end": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "notes": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial["condition"] = json.dumps(self.instance.condition or {"all": []})

    def clean_condition(self):
        try:
            rule = conditions.read_json(self.cleaned_data.get("condition") or "{}") or {"all": []}
        except ValueError:
            raise forms.ValidationError("The condition could not be read.") from None
        problems = conditions.validate(rule)
        if problems:
            raise forms.ValidationError(problems)
        return rule


class SendingRulesForm(forms.ModelForm):
    """Quiet hours, frequency caps and gates: the account-wide rules every sequence sends under."""

    class Meta:
        model = Account
        fields = [
            "quiet_hours_start",
            "quiet_hours_end",
            "cap_per_funnel_stage",
            "cap_per_48_hours",
            "decay_wait_hours",
            "activity_gate_minutes",
            "attribution_days",
            "from_email",
        ]
        labels = {
            "quiet_hours_start": "Quiet hours from (contact's local time)",
            "quiet_hours_end": "until",
            "cap_per_funnel_stage": "At most this many emails per contact per funnel stage",
            "cap_per_48_hours": "At most this many emails per contact in any 48 hours",
            "decay_wait_hours": "Engagement decay: wait (hours) after an unopened first email",
            "activity_gate_minutes": "Activity gate: minutes of inactivity before emailing",
            "attribution_days": "Credit an order to an email sent up to (days) before",
            "from_email": "Sender",
        }
        widgets = {
            "quiet_hours_start": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "quiet_hours_end": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        }
