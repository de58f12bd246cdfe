"""Forms of the copy editor: a variant (templates checked on save, with line numbers) and the preview inputs."""

from __future__ import annotations

import json

from django import forms

from sequences import conditions
from sequences.copy_preview import Hypothetical
from sequences.copy_validation import variant_problems
from sequences.models import Contact, CopyVariant, TriggerType

COPY_HELP = 'Copy language: {{ first_name|default:"there" }}, {% if product.category == "electronics" %}…{% endif %}'


class CopyVariantForm(forms.ModelForm):
    condition = forms.CharField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = CopyVariant
        fields = [
            "name",
            "priority",
            "reengagement",
            "condition",
            "subject",
            "preheader",
            "opening",
            "body",
            "cta_text",
            "cta_url",
        ]
        labels = {"reengagement": "Re-engagement copy (only for contacts who did not open or click the first email)"}
        widgets = {
            "opening": forms.Textarea(attrs={"rows": 2}),
            "body": forms.Textarea(attrs={"rows": 8}),
        }
        help_texts = {
            "subject": COPY_HELP,
            "body": "Plain text (blank lines make paragraphs, links are detected) or simple HTML: p, a, strong, em, "
            "lists, images. Scripts and styles are removed.",
            "cta_url": "https address; may use the copy language, e.g. {{ product.url }}",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial["condition"] = json.dumps(self.instance.condition or {"all": []})
        if self.instance.is_default:
            self.fields["priority"].disabled = True
            self.fields["priority"].help_text = "The default is always tried last."
        for name in ("subject", "preheader", "opening", "body", "cta_text", "cta_url"):
            self.fields[name].widget.attrs.setdefault("spellcheck", "true")

    def clean_condition(self):
        try:
            rule = conditions.read_json(self.cleaned_data.get("condition") or "{}")
        except ValueError:
            raise forms.ValidationError("The condition could not be read.") from None
        # An empty rule on a non-default variant would catch everyone: store it as "no condition" all the same,
        # the trace says so.
        return rule if rule not in ({"all": []}, {}) else {}

    def clean(self):
        cleaned = super().clean()
        problems = variant_problems({**cleaned, "is_default": self.instance.is_default})
        for field, messages in problems.items():
            if field in self.fields:
                self.add_error(field, messages)
            else:
                self.add_error(None, messages)
        return cleaned


class PreviewForm(forms.Form):
    """Who the preview is for: a real contact, or a hypothetical one described by a few facts."""

    who = forms.ChoiceField(
        choices=[("contact", "A real contact"), ("hypothetical", "A hypothetical contact")],
        initial="hypothetical",
        widget=forms.RadioSelect,
    )
    contact = forms.CharField(
        required=False, label="Contact (user id or email)", widget=forms.TextInput(attrs={"list": "sample-contacts"})
    )
    trigger_type = forms.ChoiceField(choices=TriggerType.choices, initial="cart_abandoned", label="Trigger")
    session_seconds = forms.IntegerField(min_value=0, max_value=7 * 86400, initial=420, label="Session time (s)")
    category = forms.CharField(max_length=100, required=False, initial="electronics")
    tier = forms.ChoiceField(choices=[("high", "high"), ("medium", "medium"), ("low", "low")], initial="high")
    score = forms.FloatField(min_value=0, max_value=100, initial=88)
    first_name = forms.CharField(max_length=100, required=False, initial="Alex")
    lifecycle_stage = forms.CharField(max_length=50, required=False, initial="lead")
    product_name = forms.CharField(max_length=200, required=False, initial="Noise-cancelling headphones")
    product_price = forms.DecimalField(max_digits=12, decimal_places=2, required=False, initial="249.00")
    product_variant = forms.CharField(max_length=100, required=False, initial="Black")
    reengagement = forms.BooleanField(required=False, label="As re-engagement (no open since the first email)")

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("who") == "contact":
            key = (cleaned.get("contact") or "").strip()
            contact = (
                Contact.objects.filter(user_id=key).first() or Contact.objects.filter(email__iexact=key).first()
                if key
                else None
            )
            if contact is None:
                self.add_error("contact", "No contact with this user id or email.")
            cleaned["contact_obj"] = contact
        return cleaned

    def hypothetical(self) -> Hypothetical:
        data = self.cleaned_data
        return Hypothetical(
            trigger_type=data["trigger_type"],
            session_seconds=data["session_seconds"],
            category=data.get("category") or "",
            tier=data["tier"],
            score=data["score"],
            first_name=data.get("first_name") or "",
            lifecycle_stage=data.get("lifecycle_stage") or "",
            product_name=data.get("product_name") or "",
            product_price=data.get("product_price"),
            product_variant=data.get("product_variant") or "",
        )


class TestSendForm(forms.Form):
    to = forms.EmailField(label="Send a test to")
