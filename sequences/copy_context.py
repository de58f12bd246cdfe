"""What copy can see: the documented personalisation context, and the facts copy-variant conditions read.

Everything here is plain data (dicts, lists, strings, numbers): the template sandbox never meets a model, a
queryset or a setting. `COPY_SCHEMA` is the whole documented context; templates naming anything else are refused
when saved (copy_templates.check_copy_template), and docs/copy-templates.md lists it for marketers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sequences.models.intent import TriggerType

OPEN = "*"  # any sub-path: the site's own data (traits, event properties, trigger facts)

PRODUCT_FIELDS = ("id", "name", "category", "price", "currency", "variant", "size", "image_url", "url", "brand")
COPY_SCHEMA: dict[str, Any] = {
    "first_name": None,
    "last_name": None,
    "email": None,
    "contact": {
        "first_name": None,
        "last_name": None,
        "email": None,
        "time_zone": None,
        "lifecycle_stage": None,
        "traits": OPEN,
    },
    "trigger": OPEN,  # type, label, occurred_at, and the trigger's facts: category, cart_id, content...
    "event": {"name": None, "properties": OPEN},
    "product": dict.fromkeys(PRODUCT_FIELDS),
    "cart": {"id": None, "items": None, "total": None, "url": None},
    "session": {
        "duration_seconds": None,
        "duration_minutes": None,
        "product_dwell_seconds": None,
        "page_views": None,
        "product_views": None,
        "categories": None,
        "category": None,
    },
    "score": {"value": None, "tier": None},
    "brand": {"name": None, "logo_url": None, "color": None, "website_url": None, "postal_address": None},
    "unsubscribe_url": None,
    "view_in_browser_url": None,
}

# Segment's e-commerce events that describe a product (the last one before the trigger is "the product").
PRODUCT_EVENTS = ("Product Added", "Product Viewed", "Cart Viewed", "Checkout Started", "Product Clicked")


@dataclass(frozen=True, slots=True)
class CopyFacts:
    """Everything copy may use for one contact and one trigger, before links are known."""

    contact: dict
    trigger: dict
    event: dict
    product: dict
    cart: dict
    session: dict
    score: dict
    brand: dict
    extra_condition_facts: dict = field(default_factory=dict)

    def condition_facts(self) -> dict:
        """The fact context of copy-variant conditions (conditions.FIELDS)."""
        return {
            "trigger": self.trigger,
            "event": self.event,
            "product": self.product,
            "session": self.session,
            "score": self.score,
            "contact": {**self.contact, **self.extra_condition_facts},
        }

    def template_context(self, *, unsubscribe_url: str, view_in_browser_url: str) -> dict:
        return {
            "first_name": self.contact.get("first_name", ""),
            "last_name": self.contact.get("last_name", ""),
            "email": self.contact.get("email", ""),
            "contact": self.contact,
            "trigger": self.trigger,
            "event": self.event,
            "product": self.product,
            "cart": self.cart,
            "session": self.session,
            "score": self.score,
            "brand": self.brand,
            "unsubscribe_url": unsubscribe_url,
            "view_in_browser_url": view_in_browser_url,
        }


def brand_facts(account) -> dict:
    return {
        "name": account.name,
        "logo_url": account.logo_url,
        "color": account.brand_color or "#1d4ed8",
        "website_url": account.website_url,
        "postal_address": account.postal_address,
    }


def price(value: Any) -> Decimal | None:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def describes_product(properties: dict) -> bool:
    return bool(properties.get("name") or properties.get("product_id") or properties.get("products"))


def product_facts(properties: dict) -> tuple[dict, dict]:
    """(product, cart) from a Segment e-commerce event's properties: a product event describes one product;
    Cart Viewed / Checkout Started list several in `products`, of which the first is "the product"."""
    items = [item for item in properties.get("products") or [] if isinstance(item, dict)][:20]
    source = properties if properties.get("name") or properties.get("product_id") else (items[0] if items else {})
    product = {
        "id": str(source.get("product_id") or source.get("id") or source.get("sku") or ""),
        "name": str(source.get("name") or ""),
        "category": str(source.get("category") or ""),
        "price": price(source.get("price")),
        "currency": str(source.get("currency") or properties.get("currency") or ""),
        "variant": str(source.get("variant") or ""),
        "size": str(source.get("size") or ""),
        "image_url": _web_url(source.get("image_url")),
        "url": _web_url(source.get("url")),
        "brand": str(source.get("brand") or ""),
    }
    cart = {
        "id": str(properties.get("cart_id") or ""),
        "items": [product_facts(item)[0] for item in items] if items else [],
        "total": price(properties.get("value") or properties.get("total") or properties.get("revenue")),
        "url": _web_url(properties.get("cart_url")),
    }
    return product, cart


def _web_url(value: Any) -> str:
    """Only http(s) addresses reach an email (no javascript: or data: links from event payloads)."""
    text = str(value or "").strip()
    return text if text.lower().startswith(("https://", "http://")) else ""


def session_facts_from_intent(intent_facts: dict | None) -> dict:
    facts = intent_facts or {}
    seconds = facts.get("session_duration_seconds", 0) or 0
    categories = facts.get("categories") or []
    return {
        "duration_seconds": seconds,
        "duration_minutes": round(seconds / 60),
        "product_dwell_seconds": facts.get("product_dwell_seconds", 0) or 0,
        "page_views": facts.get("page_views", 0) or 0,
        "product_views": facts.get("product_views", 0) or 0,
        "categories": list(categories),
        "category": categories[0] if categories else "",
    }


def trigger_facts(trigger_type: str, occurred_at: datetime | None, facts: dict) -> dict:
    return {
        **facts,
        "type": trigger_type,
        "label": TriggerType(trigger_type).label if trigger_type in TriggerType.values else trigger_type,
        "occurred_at": occurred_at,
    }


def contact_facts(contact) -> dict:
    return {
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "email": contact.email,
        "time_zone": contact.time_zone,
        "lifecycle_stage": contact.lifecycle_stage,
        "traits": contact.traits or {},
    }
