"""Starting a two-arm experiment on a step: a send-time test or a copy test, in a marketer's terms."""

from __future__ import annotations

from datetime import time

from django import forms

from sequences.models import CopyVariant, Experiment, ExperimentArm, Step


class ExperimentForm(forms.Form):
    name = forms.CharField(max_length=150, initial="Send time: at once vs engagement window")
    kind = forms.ChoiceField(choices=Experiment.Kind.choices, initial=Experiment.Kind.TIMING, widget=forms.RadioSelect)
    split = forms.IntegerField(
        min_value=1,
        max_value=99,
        initial=50,
        label="Share of contacts in the new arm (%)",
        help_text="The rest get the baseline.",
    )
    window_start = forms.TimeField(
        initial=time(19, 0),
        required=False,
        label="Engagement window from (local)",
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    window_end = forms.TimeField(
        initial=time(21, 0),
        required=False,
        label="until",
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    baseline_variant = forms.ModelChoiceField(CopyVariant.objects.none(), required=False, label="Baseline copy")
    challenger_variant = forms.ModelChoiceField(CopyVariant.objects.none(), required=False, label="Challenger copy")

    def __init__(self, *args, step: Step, **kwargs):
        super().__init__(*args, **kwargs)
        self.step = step
        for name in ("baseline_variant", "challenger_variant"):
            self.fields[name].queryset = step.variants.all()

    def clean(self):
        cleaned = super().clean()
        if Experiment.objects.filter(step=self.step, status=Experiment.Status.RUNNING).exists():
            raise forms.ValidationError("This email already has a running experiment: stop it first.")
        if cleaned.get("kind") == Experiment.Kind.TIMING:
            if not cleaned.get("window_start") or not cleaned.get("window_end"):
                self.add_error("window_end", "Give both ends of the engagement window.")
        elif cleaned.get("kind") == Experiment.Kind.COPY:
            baseline, challenger = cleaned.get("baseline_variant"), cleaned.get("challenger_variant")
            if not baseline or not challenger:
                self.add_error("challenger_variant", "Choose the two variants to compare.")
            elif baseline == challenger:
                self.add_error("challenger_variant", "Choose a different variant from the baseline.")
        return cleaned

    def save(self) -> Experiment:
        data = self.cleaned_data
        experiment = Experiment.objects.create(step=self.step, name=data["name"], kind=data["kind"])
        if data["kind"] == Experiment.Kind.TIMING:
            ExperimentArm.objects.create(
                experiment=experiment,
                name="Send at once",
                is_baseline=True,
                weight=100 - data["split"],
                timing="at_once",
            )
            ExperimentArm.objects.create(
                experiment=experiment,
                name=f"Engagement window {data['window_start']:%H:%M}–{data['window_end']:%H:%M}",
                weight=data["split"],
                timing="window",
                preferred_start=data["window_start"],
                preferred_end=data["window_end"],
            )
        else:
            ExperimentArm.objects.create(
                experiment=experiment,
                name=data["baseline_variant"].name,
                is_baseline=True,
                weight=100 - data["split"],
                copy_variant=data["baseline_variant"],
            )
            ExperimentArm.objects.create(
                experiment=experiment,
                name=data["challenger_variant"].name,
                weight=data["split"],
                copy_variant=data["challenger_variant"],
            )
        return experiment
