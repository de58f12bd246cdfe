"""Copy for a real or hypothetical contact (shell): load the facts, choose the variant, render the email.

Used by delivery (the email as sent), the preview page and API (the same code path, links left untracked), the
"view in your browser" page and test sends. Loading is a few queries; choosing and rendering are pure
(copy_selection, copy_templates, email_assembly).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import F, Window
from django.db.models.functions import RowNumber

from sequences.copy_context import (
    PRODUCT_EVENTS,
    CopyFacts,
    brand_facts,
    contact_facts,
    describes_product,
    product_facts,
    session_facts_from_intent,
    trigger_facts,
)
from sequences.copy_selection import VariantChoice, VariantRule, choose_variant
from sequences.email_assembly import EmailCopy, RenderedCopy, layout_html, render_copy
from sequences.models import Account, Contact, CopyVariant, Event, Step, TriggerOccurrence

PREVIEW_UNSUBSCRIBE = "#unsubscribe-link-in-the-real-email"
PREVIEW_VIEW_ONLINE = "#view-in-browser-link-in-the-real-email"


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    variant: CopyVariant
    choice: VariantChoice | None  # None when a stored choice is replayed (view in browser)
    copy: RenderedCopy
    html: str  # laid out, CSS inlined; links not yet tracked (assemble_email does that for a real send)

    @property
    def subject(self) -> str:
        return self.copy.subject

    @property
    def trace(self) -> list[dict]:
        return list(self.choice.trace) if self.choice else []


def variant_rule(variant: CopyVariant, *, key: int) -> VariantRule:
    return VariantRule(
        id=key,
        name=variant.name,
        condition=variant.condition or {},
        priority=variant.priority,
        is_default=variant.is_default,
        reengagement=variant.reengagement,
    )


def variant_copy(variant: CopyVariant) -> EmailCopy:
    return EmailCopy(
        subject=variant.subject,
        preheader=variant.preheader,
        opening=variant.opening,
        body=variant.body,
        cta_text=variant.cta_text,
        cta_url=variant.cta_url,
    )


ProductEvent = tuple[datetime, str, dict]  # occurred_at, name, properties


def recent_product_events(contact_ids: list[int], *, per_contact: int = 10) -> dict[int, list[ProductEvent]]:
    """The latest product events of many contacts in one query (delivery loads them per batch of sends)."""
    rows = (
        Event.objects.filter(contact_id__in=contact_ids, name__in=PRODUCT_EVENTS)
        .annotate(rank=Window(RowNumber(), partition_by=F("contact_id"), order_by=F("occurred_at").desc()))
        .filter(rank__lte=per_contact)
        .order_by("contact_id", "-occurred_at")
        .values_list("contact_id", "occurred_at", "name", "properties")
    )
    found: dict[int, list[ProductEvent]] = {}
    for contact_id, occurred_at, name, properties in rows:
        found.setdefault(contact_id, []).append((occurred_at, name, properties))
    return found


def contact_copy_facts(
    contact: Contact,
    trigger: TriggerOccurrence | None,
    account: Account,
    *,
    product_events: list[ProductEvent] | None = None,
    latest_trigger: bool = True,
) -> CopyFacts:
    """A real contact's facts: their trigger (or, with `latest_trigger`, their latest one), its product, their
    session and score. `product_events` (newest first) saves the query when the caller loaded them in bulk."""
    if trigger is None and latest_trigger:
        trigger = contact.triggers.order_by("-occurred_at").first()
    if product_events is None:
        product_events = recent_product_events([contact.pk]).get(contact.pk, [])
    if trigger is not None:
        product_events = [e for e in product_events if e[0] <= trigger.occurred_at]
    # The latest event that names a product: a bare "Checkout Started" must not hide the product added before it.
    product_event = next((e for e in product_events if describes_product(e[2])), None) or (
        product_events[0] if product_events else None
    )
    product, cart = product_facts(product_event[2] if product_event else {})
    if not cart["id"]:
        cart["id"] = str((trigger.facts if trigger else {}).get("cart_id", ""))
    return CopyFacts(
        contact=contact_facts(contact),
        trigger=trigger_facts(trigger.type, trigger.occurred_at, trigger.facts) if trigger else {},
        event={"name": product_event[1], "properties": product_event[2]} if product_event else {},
        product=product,
        cart=cart,
        session=session_facts_from_intent(contact.intent_facts),
        score=(
            {"value": trigger.score, "tier": trigger.tier}
            if trigger
            else {"value": contact.intent_score, "tier": contact.intent_tier}
        ),
        brand=brand_facts(account),
        extra_condition_facts={
            "last_seen_at": contact.last_seen_at,
            "past_categories": list(contact.categories_seen or []),
        },
    )


def choose(
    variants: list[CopyVariant], facts: CopyFacts, *, reengagement: bool = False, now: datetime | None = None
) -> tuple[CopyVariant, VariantChoice]:
    """The variant these facts get, and why (raises NoDefaultVariant)."""
    # Keyed by position, not pk: the live preview chooses among unsaved drafts too.
    rules = [variant_rule(variant, key=index) for index, variant in enumerate(variants)]
    choice = choose_variant(rules, facts.condition_facts(), reengagement=reengagement, now=now)
    return variants[choice.variant.id], choice


def render_for(
    variants: list[CopyVariant],
    facts: CopyFacts,
    *,
    reengagement: bool = False,
    now: datetime | None = None,
    unsubscribe_url: str = PREVIEW_UNSUBSCRIBE,
    view_in_browser_url: str = PREVIEW_VIEW_ONLINE,
) -> RenderedEmail:
    """Choose among `variants` for these facts and render the winner (raises NoDefaultVariant, CopyTemplateError)."""
    variant, choice = choose(variants, facts, reengagement=reengagement, now=now)
    return render_variant(
        variant, facts, choice=choice, unsubscribe_url=unsubscribe_url, view_in_browser_url=view_in_browser_url
    )


def render_variant(
    variant: CopyVariant,
    facts: CopyFacts,
    *,
    choice: VariantChoice | None = None,
    unsubscribe_url: str = PREVIEW_UNSUBSCRIBE,
    view_in_browser_url: str = PREVIEW_VIEW_ONLINE,
) -> RenderedEmail:
    context = facts.template_context(unsubscribe_url=unsubscribe_url, view_in_browser_url=view_in_browser_url)
    copy = render_copy(variant_copy(variant), context)
    html = layout_html(
        copy,
        brand=facts.brand,
        product=facts.product,
        unsubscribe_url=unsubscribe_url,
        view_in_browser_url=view_in_browser_url,
    )
    return RenderedEmail(variant=variant, choice=choice, copy=copy, html=html)


def withheld_copy(step: Step, facts: CopyFacts, *, now: datetime) -> dict:
    """Message fields for a control-group message: the variant the contact would have got, and why."""
    variants = list(step.variants.all())
    if not any(variant.is_default for variant in variants):
        return {}
    variant, choice = choose(variants, facts, now=now)
    return {"variant": variant.name, "copy_variant": variant, "copy_trace": list(choice.trace)}


def arm_choice(arm) -> VariantChoice:
    """The trace of a variant an experiment arm imposed (copy experiments bypass the conditions)."""
    variant = arm.copy_variant
    rule = variant_rule(variant, key=0)
    why = f"won: experiment “{arm.experiment.name}” put this contact in arm “{arm.name}”"
    return VariantChoice(rule, ({"variant": variant.name, "result": True, "why": why},))
