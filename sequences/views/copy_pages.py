"""The copy editor of a step: its variants, a live preview beside the form, the variant matrix and test sends.

Viewers see everything (including previews); editing and test sends need the editor role. The live preview
renders the variant being edited *as typed* (not saved) among the step's other variants, through the same code
delivery uses.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from sequences import conditions
from sequences.copy_context import COPY_SCHEMA
from sequences.copy_forms import CopyVariantForm, PreviewForm, TestSendForm
from sequences.copy_preview import Hypothetical, hypothetical_facts, preview_step
from sequences.copy_rendering import choose, contact_copy_facts, variant_rule
from sequences.copy_selection import NoDefaultVariant, trial_order
from sequences.copy_templates import CopyTemplateError, render_copy_template
from sequences.mail_sender import send_test_email
from sequences.models import Account, Contact, CopyVariant, Sequence, Step
from sequences.scoring_forms import rule_fields
from triggerapp.roles import EDITOR, VIEWER, has_role, role_required

SAMPLE_PROFILES = [
    ("Electronics, long session", Hypothetical(category="electronics", session_seconds=420, first_name="Alex")),
    ("Shoes, short session", Hypothetical(category="shoes", session_seconds=90, first_name="Sam", tier="medium")),
    ("Guide download", Hypothetical(trigger_type="content_downloaded", content="Buyer's guide", first_name="")),
]


def _step(pk: int, step_pk: int) -> tuple[Sequence, Step]:
    sequence = get_object_or_404(Sequence, pk=pk)
    return sequence, get_object_or_404(Step, pk=step_pk, sequence=sequence)


def _variant(step: Step, wanted: str) -> CopyVariant:
    """The variant a link or form names: an id of this step's, or "new" (anything else is a 404, not a crash)."""
    if wanted == "new":
        return CopyVariant(step=step, is_default=not step.variants.exists(), priority=10)
    if not wanted.isdigit():
        raise Http404("No such variant.")
    return get_object_or_404(CopyVariant, pk=int(wanted), step=step)


def _ordered(step: Step) -> list[CopyVariant]:
    """The step's variants in the order they are tried (re-engagement ones first, the default last)."""
    variants = list(step.variants.all())
    rules = [variant_rule(v, key=i) for i, v in enumerate(variants)]
    order = [variants[rule.id] for rule in trial_order(rules, reengagement=True)]
    return order + [v for v in variants if v.is_default]


def sample_contacts() -> list[Contact]:
    return list(
        Contact.objects.exclude(email="").filter(triggers__isnull=False).distinct().order_by("-last_seen_at")[:5]
    )


def _preview(step: Step, preview_form: PreviewForm, draft: CopyVariant | None) -> dict:
    if not preview_form.is_valid():
        return {"preview_error": "Fix the preview inputs above."}
    data = preview_form.cleaned_data
    try:
        preview = preview_step(
            step,
            contact=data.get("contact_obj") if data["who"] == "contact" else None,
            hypothetical=preview_form.hypothetical(),
            draft=draft,
            reengagement=data.get("reengagement", False),
        )
    except NoDefaultVariant:
        return {"preview_error": "This email has no default variant yet: save one first."}
    except CopyTemplateError as error:
        return {"preview_error": f"The copy cannot be rendered: {error}"}
    return {"preview": preview.as_dict()}


def _page(request, sequence, step, variant, form, preview_form, status=200):
    context = {
        "sequence": sequence,
        "step": step,
        "variants": _ordered(step),
        "variant": variant,
        "form": form,
        "preview_form": preview_form,
        "test_form": TestSendForm(),
        "rule_fields": rule_fields(),
        "samples": sample_contacts(),
        "schema": COPY_SCHEMA,
        **_preview(step, preview_form, form.instance if form.is_bound and form.is_valid() else None),
    }
    return render(request, "sequences/step_copy.html", context, status=status)


@role_required(VIEWER)
def step_copy(request, pk: int, step_pk: int):
    sequence, step = _step(pk, step_pk)
    wanted = request.GET.get("variant") or request.POST.get("variant_id")
    if wanted:
        variant = _variant(step, wanted)
    else:
        variant = step.variants.filter(is_default=True).first() or CopyVariant(step=step, is_default=True)
    if not variant.pk and variant.is_default:
        variant.name = variant.name or "Default"
    if request.method == "POST":
        if not has_role(request.user, EDITOR):
            raise PermissionDenied("Editing copy needs the editor role.")
        form = CopyVariantForm(request.POST, instance=variant)
        if form.is_valid():
            with transaction.atomic():
                saved = form.save()
                Sequence.objects.filter(pk=sequence.pk).update(version=sequence.version + 1)
            messages.success(request, f"Variant “{saved.name}” saved.")
            return redirect(f"{request.path}?variant={saved.pk}")
        return _page(request, sequence, step, variant, form, PreviewForm(_initial_preview(), prefix="p"), status=422)
    return _page(
        request, sequence, step, variant, CopyVariantForm(instance=variant), PreviewForm(_initial_preview(), prefix="p")
    )


def _initial_preview() -> dict:
    """The preview's starting inputs, as posted data (a bound form renders and validates them)."""
    form = PreviewForm(prefix="p")
    return {form.add_prefix(name): field.initial for name, field in form.fields.items() if field.initial is not None}


@role_required(VIEWER)
@require_POST
def copy_live_preview(request, pk: int, step_pk: int):
    """htmx: the preview panel for the variant as typed and the chosen contact (nothing is saved)."""
    sequence, step = _step(pk, step_pk)
    instance = _variant(step, request.POST.get("variant_id") or "new")
    preview_form = PreviewForm(request.POST, prefix="p")
    context = {"sequence": sequence, "step": step}
    if not has_role(request.user, EDITOR):
        # A viewer cannot change the copy (their form is disabled, so nothing of it is posted): preview the saved one.
        context.update(_preview(step, preview_form, None))
        return render(request, "sequences/step_copy.html#preview", context)
    form = CopyVariantForm(request.POST, instance=instance)
    if form.is_valid():
        context.update(_preview(step, preview_form, form.instance))
    else:
        context["preview_error"] = "Fix the copy first: " + "; ".join(
            f"{form.fields[name].label if name in form.fields else 'copy'}: {' '.join(errors)}"
            for name, errors in form.errors.items()
        )
    return render(request, "sequences/step_copy.html#preview", context)


@role_required(EDITOR)
@require_POST
def variant_delete(request, pk: int, step_pk: int, variant_pk: int):
    sequence, step = _step(pk, step_pk)
    variant = get_object_or_404(CopyVariant, pk=variant_pk, step=step)
    if variant.is_default:
        messages.error(request, "The default variant cannot be removed: every email needs one.")
    else:
        variant.delete()
        Sequence.objects.filter(pk=sequence.pk).update(version=sequence.version + 1)
        messages.success(request, f"Variant “{variant.name}” removed.")
    return redirect("step-copy", pk=sequence.pk, step_pk=step.pk)


@role_required(EDITOR)
@require_POST
def test_send(request, pk: int, step_pk: int):
    """Mail the preview (of the saved variants) to an address, through the configured email backend."""
    sequence, step = _step(pk, step_pk)
    form, preview_form = TestSendForm(request.POST), PreviewForm(request.POST, prefix="p")
    if not form.is_valid() or not preview_form.is_valid():
        messages.error(request, "Test not sent: give a valid address and preview inputs.")
        return redirect("step-copy", pk=sequence.pk, step_pk=step.pk)
    result = _preview(step, preview_form, None)
    if "preview" not in result:
        messages.error(request, f"Test not sent: {result['preview_error']}")
    else:
        preview = result["preview"]
        account = Account.current()
        send_test_email(
            to=form.cleaned_data["to"],
            subject=preview["subject"],
            html=preview["html"],
            text=preview["text"],
            from_email=account.from_email or settings.DEFAULT_FROM_EMAIL,
        )
        messages.success(request, f"Test of “{preview['variant']}” sent to {form.cleaned_data['to']}.")
    return redirect("step-copy", pk=sequence.pk, step_pk=step.pk)


@role_required(VIEWER)
def copy_matrix(request, pk: int, step_pk: int):
    """Every variant against a few sample contacts: does its condition hold, who wins, and what they would read."""
    sequence, step = _step(pk, step_pk)
    variants = _ordered(step)
    account = Account.current()
    people = [
        (f"{c.first_name or c.email} ({c.user_id or 'anonymous'})", contact_copy_facts(c, None, account))
        for c in sample_contacts()
    ]
    people += [(f"Hypothetical: {label}", hypothetical_facts(h, account)) for label, h in SAMPLE_PROFILES]
    rows = []
    for label, facts in people:
        try:
            winner = choose(variants, facts)[0]
        except NoDefaultVariant:
            winner = None
        context = facts.template_context(unsubscribe_url="#", view_in_browser_url="#")
        cells = []
        for variant in variants:
            holds = True
            if variant.reengagement:
                holds = None  # not for these contacts: only for those who did not open or click the first email
            elif not variant.is_default and variant.condition:
                holds = conditions.evaluate(variant.condition, facts.condition_facts()).result
            try:
                subject = render_copy_template(variant.subject, context, html=False)
                opening = render_copy_template(variant.opening, context, html=False)
            except CopyTemplateError as error:
                subject, opening = f"(cannot render: {error})", ""
            cells.append(
                {"variant": variant, "holds": holds, "wins": winner == variant, "subject": subject, "opening": opening}
            )
        rows.append({"label": label, "cells": cells})
    return render(
        request, "sequences/copy_matrix.html", {"sequence": sequence, "step": step, "variants": variants, "rows": rows}
    )
