"""Session facts (pure): fold a session's events, one at a time, into what scoring and triggers read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlparse

CART_ACTIONS = frozenset({"cart_viewed", "product_added", "checkout_started"})
# Time on a product page counts until the next event, but a tab left open overnight is not attention.
DWELL_CAP = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class EventFacts:
    at: datetime
    type: str
    name: str
    action: str | None
    category: str | None
    cart_id: str | None
    page_path: str | None
    properties: Mapping[str, Any] = field(default_factory=dict)


def _text(value: Any) -> str | None:
    if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
        return str(value).strip()[:200]
    return None


def _path(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    return urlparse(text).path or "/" if "://" in text else text


def event_facts(
    *,
    type: str,
    name: str,
    properties: Mapping[str, Any],
    context: Mapping[str, Any],
    occurred_at: datetime,
    event_actions: Mapping[str, str],
) -> EventFacts:
    """What one event says, given the marketer's table of event name -> funnel action."""
    if type in ("page", "screen"):
        action = "page_view"
    elif type == "track":
        action = event_actions.get(name)
    else:
        action = None
    page = context.get("page") if isinstance(context.get("page"), Mapping) else {}
    page_path = None
    if type in ("page", "screen"):
        page_path = _path(page.get("path")) or _path(properties.get("path")) or _path(page.get("url"))
        page_path = page_path or _path(properties.get("url"))
    category = _text(properties.get("category"))
    if action == "content_downloaded":
        category = category or _text(properties.get("content_type"))
    cart_id = _text(properties.get("cart_id")) or _text(properties.get("checkout_id"))
    return EventFacts(
        at=occurred_at,
        type=type,
        name=name,
        action=action,
        category=category.lower() if category else None,
        cart_id=cart_id,
        page_path=page_path,
        properties=properties,
    )


@dataclass(frozen=True, slots=True)
class SessionFacts:
    started_at: datetime
    last_event_at: datetime
    page_views: int = 0
    product_views: int = 0
    product_dwell_seconds: float = 0.0
    actions: frozenset[str] = frozenset()
    category_counts: Mapping[str, int] = field(default_factory=dict)
    cart_ids: tuple[str, ...] = ()
    converted: bool = False
    converted_cart_ids: tuple[str, ...] = ()
    last_action: str | None = None
    last_page_path: str | None = None
    prior_categories: frozenset[str] = frozenset()  # categories the contact had shown before this session

    @property
    def duration_seconds(self) -> float:
        return (self.last_event_at - self.started_at).total_seconds()

    @property
    def categories(self) -> tuple[str, ...]:
        """Most viewed first; ties by name so the result is stable."""
        return tuple(sorted(self.category_counts, key=lambda c: (-self.category_counts[c], c)))

    @property
    def had_cart_activity(self) -> bool:
        return bool(self.actions & CART_ACTIONS)

    def to_json(self) -> dict[str, Any]:
        # Written out by hand: dataclasses.asdict deep-copies and was a hot spot of ingest.
        return {
            "started_at": self.started_at.isoformat(),
            "last_event_at": self.last_event_at.isoformat(),
            "page_views": self.page_views,
            "product_views": self.product_views,
            "product_dwell_seconds": self.product_dwell_seconds,
            "actions": sorted(self.actions),
            "category_counts": dict(self.category_counts),
            "cart_ids": list(self.cart_ids),
            "converted": self.converted,
            "converted_cart_ids": list(self.converted_cart_ids),
            "last_action": self.last_action,
            "last_page_path": self.last_page_path,
            "prior_categories": sorted(self.prior_categories),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SessionFacts:
        return cls(
            started_at=datetime.fromisoformat(data["started_at"]),
            last_event_at=datetime.fromisoformat(data["last_event_at"]),
            page_views=data.get("page_views", 0),
            product_views=data.get("product_views", 0),
            product_dwell_seconds=data.get("product_dwell_seconds", 0.0),
            actions=frozenset(data.get("actions", ())),
            category_counts=dict(data.get("category_counts", {})),
            cart_ids=tuple(data.get("cart_ids", ())),
            converted=data.get("converted", False),
            converted_cart_ids=tuple(data.get("converted_cart_ids", ())),
            last_action=data.get("last_action"),
            last_page_path=data.get("last_page_path"),
            prior_categories=frozenset(data.get("prior_categories", ())),
        )


_FIELDS = tuple(f.name for f in fields(SessionFacts))


def start_session(event: EventFacts, prior_categories: frozenset[str]) -> SessionFacts:
    return add_event(
        SessionFacts(started_at=event.at, last_event_at=event.at, prior_categories=prior_categories), event
    )


def add_event(facts: SessionFacts, event: EventFacts) -> SessionFacts:
    """The session's facts after `event`. Events may arrive late; the session's span stretches to cover them."""
    changes: dict[str, Any] = {}
    in_order = event.at >= facts.last_event_at
    if in_order and facts.last_action == "product_viewed":
        dwell = min(event.at - facts.last_event_at, DWELL_CAP).total_seconds()
        changes["product_dwell_seconds"] = facts.product_dwell_seconds + dwell
    changes["started_at"] = min(facts.started_at, event.at)
    changes["last_event_at"] = max(facts.last_event_at, event.at)
    if event.action == "page_view":
        changes["page_views"] = facts.page_views + 1
        if in_order:
            changes["last_page_path"] = event.page_path
    if event.action == "product_viewed":
        changes["product_views"] = facts.product_views + 1
    if event.action:
        changes["actions"] = facts.actions | {event.action}
    if event.category and event.action in ("product_viewed", "product_added", "cart_viewed", "content_downloaded"):
        counts = dict(facts.category_counts)
        counts[event.category] = counts.get(event.category, 0) + 1
        changes["category_counts"] = counts
    if event.cart_id and event.action in CART_ACTIONS and event.cart_id not in facts.cart_ids:
        changes["cart_ids"] = (*facts.cart_ids, event.cart_id)
    if event.action == "order_completed":
        changes["converted"] = True
        if event.cart_id:
            changes["converted_cart_ids"] = (*facts.converted_cart_ids, event.cart_id)
    if in_order:
        changes["last_action"] = event.action
    # Not dataclasses.replace: it looks the fields up again on every call, once per event stored (ingest's hot
    # path): 3.0 against 3.7 µs here (timeit).
    return SessionFacts(**{name: changes[name] if name in changes else getattr(facts, name) for name in _FIELDS})
