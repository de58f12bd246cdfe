"""Scoring and trigger settings pages (editors change them; viewers may look)."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Max
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from sequences.intent import active_scoring
from sequences.models import LifecycleStage, ScoringModel, TriggerSettings
from sequences.scoring_forms import ScoringModelForm, TriggerSettingsForm
from sequences.scoring_models import scoring_model_activate, scoring_model_create, what_if
from triggerapp.roles import EDITOR, VIEWER, has_role, role_required


def _stages(config: dict) -> list[tuple[str, str]]:
    stages = [(stage.slug, stage.name) for stage in LifecycleStage.objects.all()]
    known = {slug for slug, _ in stages}
    # Stages the model scores but the list no longer has are kept, so saving does not drop them silently.
    return stages + [(slug, slug) for slug in config.get("lifecycle", {}) if slug not in known]


def _form(model: ScoringModel, data=None) -> ScoringModelForm:
    return ScoringModelForm(data, initial=ScoringModelForm.initial_from(model.config), stages=_stages(model.config))


@role_required(VIEWER)
def scoring_settings(request):
    model, config = active_scoring()
    form = _form(model, request.POST or None)
    if request.method == "POST":
        if not has_role(request.user, EDITOR):
            raise PermissionDenied("Changing the scoring model needs the editor role.")
        if form.is_valid():
            new = scoring_model_create(config=form.config(), note=form.cleaned_data["note"], user=request.user)
            messages.success(request, f"Scoring model v{new.version} saved and active.")
            return redirect("scoring-settings")
    context = {
        "form": form,
        "model": model,
        "versions": ScoringModel.objects.select_related("created_by")[:20],
        "next_version": (ScoringModel.objects.aggregate(top=Max("version"))["top"] or 0) + 1,
        "what_if_as_of": _what_if_as_of(request),
        "what_if": what_if(draft=config, now=timezone.now(), at_last_activity=_what_if_as_of(request) == LAST_ACTIVITY)
        if request.method == "GET"
        else None,
    }
    return render(request, "sequences/scoring_settings.html", context)


@role_required(VIEWER)
@require_POST
def scoring_what_if(request):
    """htmx: re-score sample contacts under the form as it stands, without saving anything."""
    model, _ = active_scoring()
    form = _form(model, request.POST)
    context = {
        "form": form,
        "weights_total": form.weights_total() if hasattr(form, "cleaned_data") else None,
        "what_if_as_of": _what_if_as_of(request),
    }
    if form.is_valid():
        at_last_activity = context["what_if_as_of"] == LAST_ACTIVITY
        context["what_if"] = what_if(draft=form.parsed, now=timezone.now(), at_last_activity=at_last_activity)
    return render(request, "sequences/scoring_settings.html#what-if", context)


LAST_ACTIVITY = "last_activity"


def _what_if_as_of(request) -> str:
    """The what-if panel's choice: "now" (with decay) or each contact's last activity."""
    return LAST_ACTIVITY if (request.POST or request.GET).get("what_if_as_of") == LAST_ACTIVITY else "now"


@role_required(EDITOR)
@require_POST
def scoring_activate(request, version: int):
    model = scoring_model_activate(model=get_object_or_404(ScoringModel, version=version))
    messages.success(request, f"Scoring model v{model.version} is active again.")
    return redirect("scoring-settings")


@role_required(VIEWER)
def trigger_settings(request):
    settings = TriggerSettings.current()
    form = TriggerSettingsForm(request.POST or None, initial=TriggerSettingsForm.initial_from(settings))
    if request.method == "POST":
        if not has_role(request.user, EDITOR):
            raise PermissionDenied("Changing trigger settings needs the editor role.")
        if form.is_valid():
            for name, value in form.cleaned_data.items():
                setattr(settings, name, value)
            settings.save()
            messages.success(request, "Trigger settings saved.")
            return redirect("trigger-settings")
    return render(request, "sequences/trigger_settings.html", {"form": form})
