"""Trigger detection (pure): which triggers an event, a quiet session or a long silence amounts to.

All times are instants (aware datetimes); "5 minutes of inactivity" is five real minutes whatever the
contact's wall clock does, so DST changes neither hide nor double a trigger.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sequences.session_facts import EventFacts, SessionFacts


@dataclass(frozen=True, slots=True)
class TriggerRules:
    cart_abandon_minutes: int = 5
    page_exit_minutes: int = 5
    page_groups: tuple[tuple[str, str], ...] = ()  # (name, path prefix)
    long_session_minutes: int = 6
    lapsed_days: int = 7

    @property
    def quiet_after(self) -> timedelta:
        """The shortest inactivity after which a quiet-session trigger may be due."""
        return timedelta(minutes=min(self.cart_abandon_minutes, self.page_exit_minutes))


@dataclass(frozen=True, slots=True)
class TriggerCandidate:
    type: str
    key: str  # unique per contact: the same occurrence is never recorded twice
    occurred_at: datetime
    facts: Mapping[str, Any] = field(default_factory=dict)
    # The intent score and tier at that moment, where the caller scored it (ingest does, event by event);
    # otherwise the contact's stored score is recorded.
    score: float | None = None
    tier: str = ""


@dataclass(frozen=True, slots=True)
class PageView:
    at: datetime
    path: str | None


KEY_LENGTH = 250  # TriggerOccurrence.key's max_length


def occurrence_key(*parts: str) -> str:
    """`type:part:part`. A cart id (up to 200 characters) and a session id (up to 100) can outgrow the column;
    cutting the key there could make two occurrences one, so a long key ends in a digest of the whole instead."""
    key = ":".join(parts)
    if len(key) <= KEY_LENGTH:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"{key[: KEY_LENGTH - len(digest) - 1]}:{digest}"


def event_triggers(
    event: EventFacts,
    before: SessionFacts | None,
    after: SessionFacts,
    *,
    session_id: str,
    message_id: str,
    rules: TriggerRules,
) -> list[TriggerCandidate]:
    """Triggers fired by the event itself: a download, a form, or the session growing past the long threshold."""
    found: list[TriggerCandidate] = []
    if event.action == "content_downloaded":
        content = event.properties.get("title") or event.properties.get("content_id") or event.name
        found.append(
            TriggerCandidate(
                "content_downloaded",
                f"content_downloaded:{message_id}",
                event.at,
                {"content": str(content)[:200], "category": event.category or ""},
            )
        )
    if event.action == "form_submitted":
        form = event.properties.get("form_id") or event.properties.get("form_name") or event.name
        found.append(
            TriggerCandidate("form_submitted", f"form_submitted:{message_id}", event.at, {"form": str(form)[:200]})
        )
    threshold = rules.long_session_minutes * 60
    was = before.duration_seconds if before is not None else 0.0
    if was < threshold <= after.duration_seconds:
        found.append(
            TriggerCandidate(
                "long_session",
                f"long_session:{session_id}",
                after.started_at + timedelta(seconds=threshold),
                {
                    "session_minutes": round(after.duration_seconds / 60, 1),
                    "threshold_minutes": rules.long_session_minutes,
                },
            )
        )
    return found


def page_group(path: str | None, groups: tuple[tuple[str, str], ...]) -> str | None:
    if not path:
        return None
    for name, prefix in groups:
        if path.startswith(prefix):
            return name
    return None


def group_exits(pages: Iterable[PageView], groups: tuple[tuple[str, str], ...]) -> dict[str, tuple[PageView, PageView]]:
    """Each group's first exit by navigation: (its last page, the page outside every group that followed).

    Pages come in time order. Moving from one group straight into another is not leaving the tracked pages; a
    page without a path says nothing about where the visitor went, so it is passed over.
    """
    exits: dict[str, tuple[PageView, PageView]] = {}
    inside: tuple[str, PageView] | None = None
    for page in pages:
        if not page.path:
            continue
        group = page_group(page.path, groups)
        if group:
            inside = (group, page)
        elif inside is not None:
            exits.setdefault(inside[0], (inside[1], page))
            inside = None
    return exits


def quiet_session_triggers(
    facts: SessionFacts,
    *,
    session_id: str,
    now: datetime,
    rules: TriggerRules,
    ordered_cart_ids: Collection[str] = (),
    pages: Iterable[PageView] = (),
) -> list[TriggerCandidate]:
    """Cart abandonment and page exit, once the session has been quiet long enough and nothing was bought.

    `pages`: the session's page views in time order, for exits by navigation (without them, only a session that
    ended on a tracked page is an exit).
    """
    quiet = now - facts.last_event_at
    found: list[TriggerCandidate] = []
    bought = set(ordered_cart_ids) | set(facts.converted_cart_ids)
    carts = [cart for cart in facts.cart_ids if cart not in bought]
    # A cart left behind: abandoned now, or once the (separately set) cart timeout has passed.
    left_a_cart = facts.had_cart_activity and not facts.converted and (bool(carts) or not facts.cart_ids)
    if left_a_cart and quiet >= timedelta(minutes=rules.cart_abandon_minutes):
        base = {
            "inactive_minutes": round(quiet.total_seconds() / 60, 1),
            "session_minutes": round(facts.duration_seconds / 60, 1),
            "category": facts.categories[0] if facts.categories else "",
        }
        if carts:
            # One abandonment per cart per session. A persistent cart left again in a later session is a new
            # abandonment. Left twice in one session (back within the session gap, more added, idle again), it
            # is the same one: the shopper is already in the cart emails, whose copy reads the cart as it is at
            # send time, and a second start minutes after the first would only repeat the reminder.
            found.extend(
                TriggerCandidate(
                    "cart_abandoned",
                    occurrence_key("cart_abandoned", cart, session_id),
                    facts.last_event_at,
                    {**base, "cart_id": cart},
                )
                for cart in carts
            )
        elif not facts.cart_ids:
            found.append(
                TriggerCandidate("cart_abandoned", f"cart_abandoned:session:{session_id}", facts.last_event_at, base)
            )
    # A visit that left a cart behind is a cart abandonment, not also a page exit: product pages -> cart -> gone
    # would otherwise start the browse-abandonment emails beside the cart ones, about the same visit. Whether or
    # not the cart's own timeout has passed yet: a shorter page-exit timeout must not slip one in first.
    if (
        rules.page_groups
        and not facts.converted
        and not left_a_cart
        and quiet >= timedelta(minutes=rules.page_exit_minutes)
    ):
        found.extend(_page_exits(facts, session_id, pages, rules))
    return found


def _page_exits(
    facts: SessionFacts, session_id: str, pages: Iterable[PageView], rules: TriggerRules
) -> list[TriggerCandidate]:
    """A page exit is a visit to a tracked group that ended without an order: the visitor went on to a page
    outside every group, or the session ended on the group's page. It is decided once the session is quiet (not
    at the moment of leaving), because only then is it known that no order followed: pricing -> sign-up -> order
    is leaving the group to convert.

    Once per group per session (the key): a visitor going back and forth between the pricing page and the rest
    of the site is one visit to pricing, not an exit each time; its first exit is the one recorded. The idle
    case shares the key, so leaving, coming back and then going quiet on the group's page is still one exit.
    """
    found = [
        TriggerCandidate(
            "page_exit",
            occurrence_key("page_exit", session_id, group),
            first_outside.at,
            {"page_group": group, "path": last_inside.path, "next_path": first_outside.path},
        )
        for group, (last_inside, first_outside) in group_exits(pages, rules.page_groups).items()
    ]
    group = page_group(facts.last_page_path, rules.page_groups)
    if group and all(candidate.facts["page_group"] != group for candidate in found):
        found.append(
            TriggerCandidate(
                "page_exit",
                occurrence_key("page_exit", session_id, group),
                facts.last_event_at,
                {"page_group": group, "path": facts.last_page_path},
            )
        )
    return found


def lapsed_trigger(last_seen_at: datetime | None, *, now: datetime, rules: TriggerRules) -> TriggerCandidate | None:
    """A contact silent for `lapsed_days` has lapsed: once per silence (a new visit starts a new one)."""
    if last_seen_at is None:
        return None
    due = last_seen_at + timedelta(days=rules.lapsed_days)
    if now < due:
        return None
    return TriggerCandidate(
        "lapsed",
        f"lapsed:{last_seen_at.isoformat()}",
        due,
        {"last_seen_at": last_seen_at.isoformat(), "days_silent": (now - last_seen_at).days},
    )
