"""Preview (shell): what a real or hypothetical contact would receive from a step, and why.

The preview renders through the same code as delivery (copy_rendering.render_for); only the links differ (left
untracked, and the unsubscribe link is a placeholder), so what the marketer sees is what is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from sequences.copy_context import CopyFacts, brand_facts, price, trigger_facts
from sequences.copy_rendering import RenderedEmail, contact_copy_facts, render_for
from sequences.email_text import html_to_text
from sequences.models import Account, Contact, CopyVariant, Step

TRIGGER_DEFAULT_FACTS = {
    "cart_abandoned": {"cart_id": "preview-cart", "inactive_minutes": 5},
    "content_downloaded": {"content": "Buyer's guide"},
    "page_exit": {"page_group": "Pricing", "path": "/pricing"},
}


@dataclass(frozen=True, slots=True)
class Hypothetical:
    """A made-up contact and trigger, as the preview form or API gives them."""

    trigger_type: str = "cart_abandoned"
    session_seconds: int = 420
    category: str = ""
    tier: str = "high"
    score: float = 85
    first_name: str = ""
    last_name: str = ""
    email: str = "preview@example.com"
    lifecycle_stage: str = "lead"
    product_name: str = ""
    product_price: Decimal | None = None
    product_variant: str = ""
    product_image_url: str = ""
    content: str = ""


def hypothetical_facts(h: Hypothetical, account: Account) -> CopyFacts:
    now = timezone.now()
    facts = {**TRIGGER_DEFAULT_FACTS.get(h.trigger_type, {}), "category": h.category}
    facts["session_minutes"] = round(h.session_seconds / 60, 1)
    if h.content:
        facts["content"] = h.content
    product = {
        "id": "preview",
        "name": h.product_name,
        "category": h.category,
        "price": price(h.product_price) if h.product_price is not None else None,
        "currency": "USD",
        "variant": h.product_variant,
        "size": "",
        "image_url": h.product_image_url if h.product_image_url.startswith(("https://", "http://")) else "",
        "url": "",
        "brand": "",
    }
    return CopyFacts(
        contact={
            "first_name": h.first_name,
            "last_name": h.last_name,
            "email": h.email,
            "time_zone": account.time_zone,
            "lifecycle_stage": h.lifecycle_stage,
            "traits": {},
        },
        trigger=trigger_facts(h.trigger_type, now - timedelta(minutes=10), facts),
        event={"name": "Product Added", "properties": {"name": h.product_name, "category": h.category}},
        product=product,
        cart={"id": facts.get("cart_id", ""), "items": [product] if h.product_name else [], "total": None, "url": ""},
        session={
            "duration_seconds": h.session_seconds,
            "duration_minutes": round(h.session_seconds / 60),
            "product_dwell_seconds": 0,
            "page_views": 0,
            "product_views": 1 if h.product_name else 0,
            "categories": [h.category] if h.category else [],
            "category": h.category,
        },
        score={"value": h.score, "tier": h.tier},
        brand=brand_facts(account),
        extra_condition_facts={"last_seen_at": now - timedelta(minutes=10), "past_categories": []},
    )


@dataclass(frozen=True, slots=True)
class Preview:
    rendered: RenderedEmail
    text: str

    def as_dict(self) -> dict:
        return {
            "variant": self.rendered.variant.name,
            "subject": self.rendered.subject,
            "preheader": self.rendered.copy.preheader,
            "html": self.rendered.html,
            "text": self.text,
            "trace": self.rendered.trace,
        }


def with_draft(step: Step, draft: CopyVariant | None) -> list[CopyVariant]:
    """The step's variants, with `draft` (being edited, not saved) in place of its saved self."""
    variants = list(step.variants.all())
    if draft is None:
        return variants
    others = [v for v in variants if v.pk != draft.pk or draft.pk is None]
    if draft.is_default:
        others = [v for v in others if not v.is_default]
    return [*others, draft]


def preview_step(
    step: Step,
    *,
    contact: Contact | None = None,
    hypothetical: Hypothetical | None = None,
    draft: CopyVariant | None = None,
    reengagement: bool = False,
) -> Preview:
    """Raises NoDefaultVariant or CopyTemplateError with a marketer-readable message."""
    account = Account.current()
    facts = contact_copy_facts(contact, None, account) if contact else hypothetical_facts(hypothetical, account)
    rendered = render_for(with_draft(step, draft), facts, reengagement=reengagement, now=timezone.now())
    return Preview(rendered=rendered, text=html_to_text(rendered.html))
