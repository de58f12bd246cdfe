"""Trigger detection: session facts folded from events, and triggers across time zones and DST changes."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from sequences.models.trigger_settings import DEFAULT_EVENT_ACTIONS
from sequences.session_facts import SessionFacts, add_event, event_facts, start_session
from sequences.trigger_detection import (
    KEY_LENGTH,
    PageView,
    TriggerRules,
    event_triggers,
    lapsed_trigger,
    quiet_session_triggers,
)

RULES = TriggerRules(page_groups=(("Pricing", "/pricing"),))
TWO_GROUPS = TriggerRules(page_groups=(("Pricing", "/pricing"), ("Product pages", "/products/")))
LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


def facts_of(*events):
    """events: (time, type, name, properties, context)"""
    session = None
    for at, kind, name, properties, context in events:
        event = event_facts(
            type=kind,
            name=name,
            properties=properties,
            context=context,
            occurred_at=at,
            event_actions=DEFAULT_EVENT_ACTIONS,
        )
        session = start_session(event, frozenset()) if session is None else add_event(session, event)
    return session


def cart_session(start):
    return facts_of(
        (start, "page", "", {}, {"page": {"path": "/"}}),
        (start + timedelta(minutes=2), "track", "Product Viewed", {"category": "Electronics"}, {}),
        (start + timedelta(minutes=5), "track", "Product Added", {"cart_id": "c-1", "category": "electronics"}, {}),
    )


def test_session_facts_fold_views_dwell_actions_and_carts():
    start = datetime(2026, 6, 1, 14, 0, tzinfo=UTC)
    facts = cart_session(start)

    assert facts.duration_seconds == 300
    assert facts.product_dwell_seconds == 180
    assert facts.actions == {"page_view", "product_viewed", "product_added"}
    assert facts.categories == ("electronics",)
    assert facts.cart_ids == ("c-1",)


def test_dwell_is_capped_for_a_tab_left_open():
    start = datetime(2026, 6, 1, 14, 0, tzinfo=UTC)
    facts = facts_of(
        (start, "track", "Product Viewed", {}, {}),
        (start + timedelta(hours=3), "page", "", {}, {}),
    )

    assert facts.product_dwell_seconds == 600


def test_cart_abandonment_fires_after_5_quiet_minutes_and_not_before():
    start = datetime(2026, 6, 1, 14, 0, tzinfo=UTC)
    facts = cart_session(start)
    last = start + timedelta(minutes=5)

    assert quiet_session_triggers(facts, session_id="s", now=last + timedelta(minutes=4, seconds=59), rules=RULES) == []
    found = quiet_session_triggers(facts, session_id="s", now=last + timedelta(minutes=5), rules=RULES)

    assert [(t.type, t.key, t.occurred_at) for t in found] == [("cart_abandoned", "cart_abandoned:c-1:s", last)]
    assert found[0].facts["category"] == "electronics"


def test_a_persistent_cart_left_again_in_a_later_session_is_a_new_abandonment():
    monday = cart_session(datetime(2026, 6, 1, 14, 0, tzinfo=UTC))
    friday = cart_session(datetime(2026, 6, 5, 19, 0, tzinfo=UTC))

    first = quiet_session_triggers(monday, session_id="s-mon", now=datetime(2026, 6, 1, 15, 0, tzinfo=UTC), rules=RULES)
    again = quiet_session_triggers(friday, session_id="s-fri", now=datetime(2026, 6, 5, 20, 0, tzinfo=UTC), rules=RULES)

    assert [t.facts["cart_id"] for t in first + again] == ["c-1", "c-1"]
    assert first[0].key != again[0].key


def test_a_cart_left_twice_in_one_session_is_one_abandonment():
    start = datetime(2026, 6, 1, 14, 0, tzinfo=UTC)
    facts = cart_session(start)
    first = quiet_session_triggers(facts, session_id="s", now=start + timedelta(minutes=11), rules=RULES)
    back = add_event(
        facts,
        event_facts(
            type="track",
            name="Product Added",
            properties={"cart_id": "c-1", "category": "electronics"},
            context={},
            occurred_at=start + timedelta(minutes=15),
            event_actions=DEFAULT_EVENT_ACTIONS,
        ),
    )
    second = quiet_session_triggers(back, session_id="s", now=start + timedelta(minutes=21), rules=RULES)

    assert [t.key for t in first] == [t.key for t in second]  # recorded once: the key is unique per contact


def test_long_cart_and_session_ids_still_give_distinct_keys_that_fit():
    facts = cart_session(datetime(2026, 6, 1, 14, 0, tzinfo=UTC))
    now = datetime(2026, 6, 1, 15, 0, tzinfo=UTC)
    long_cart = replace(facts, cart_ids=("c" * 200,))
    keys = {
        t.key
        for session_id in ("s" * 99 + "1", "s" * 99 + "2")
        for t in quiet_session_triggers(long_cart, session_id=session_id, now=now, rules=RULES)
    }

    assert len(keys) == 2
    assert all(len(key) <= KEY_LENGTH for key in keys)


def test_no_abandonment_when_the_cart_was_bought_even_in_another_session():
    facts = cart_session(datetime(2026, 6, 1, 14, 0, tzinfo=UTC))

    found = quiet_session_triggers(
        facts, session_id="s", now=datetime(2026, 6, 1, 15, 0, tzinfo=UTC), rules=RULES, ordered_cart_ids={"c-1"}
    )

    assert [t.type for t in found] == []


def test_an_order_in_the_session_means_no_abandonment():
    start = datetime(2026, 6, 1, 14, 0, tzinfo=UTC)
    facts = add_event(
        cart_session(start),
        event_facts(
            type="track",
            name="Order Completed",
            properties={"order_id": "o-1"},
            context={},
            occurred_at=start + timedelta(minutes=8),
            event_actions=DEFAULT_EVENT_ACTIONS,
        ),
    )

    assert quiet_session_triggers(facts, session_id="s", now=start + timedelta(hours=1), rules=RULES) == []


@pytest.mark.parametrize(
    ("zone", "local_start"),
    [
        # Clocks go back in London at 02:00 BST on 25 Oct 2026: 01:58 local happens twice.
        (LONDON, datetime(2026, 10, 25, 1, 58, fold=1)),
        # Clocks go forward in New York at 02:00 on 8 Mar 2026: 01:58 then 03:00.
        (NEW_YORK, datetime(2026, 3, 8, 1, 58)),
    ],
)
def test_abandonment_across_a_dst_change_waits_five_real_minutes(zone, local_start):
    start = local_start.replace(tzinfo=zone).astimezone(UTC) - timedelta(minutes=5)
    facts = cart_session(start)
    last = start + timedelta(minutes=5)

    too_early = quiet_session_triggers(facts, session_id="s", now=last + timedelta(minutes=4), rules=RULES)
    on_time = quiet_session_triggers(facts, session_id="s", now=last + timedelta(minutes=5), rules=RULES)

    assert too_early == []
    assert [t.type for t in on_time] == ["cart_abandoned"]
    assert on_time[0].occurred_at == last


def test_page_exit_from_a_tracked_group_without_converting():
    start = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    facts = facts_of((start, "page", "Pricing", {}, {"page": {"url": "https://shop.example.com/pricing?plan=pro"}}))

    found = quiet_session_triggers(facts, session_id="s-9", now=start + timedelta(minutes=6), rules=RULES)

    assert [(t.type, t.key, t.facts["page_group"]) for t in found] == [
        ("page_exit", "page_exit:s-9:Pricing", "Pricing")
    ]


def browsing(start, *paths, step=timedelta(minutes=1)):
    """A session of page views one minute apart: its facts and the pages the beat reads back."""
    events = [(start + n * step, "page", "", {}, {"page": {"path": path}}) for n, path in enumerate(paths)]
    return facts_of(*events), [PageView(at, context["page"]["path"]) for at, _, _, _, context in events]


def then_track(facts, name: str, properties: dict, *, at: datetime):
    """The session's facts after one more track event."""
    return add_event(
        facts,
        event_facts(
            type="track",
            name=name,
            properties=properties,
            context={},
            occurred_at=at,
            event_actions=DEFAULT_EVENT_ACTIONS,
        ),
    )


def test_leaving_a_tracked_group_for_another_page_is_a_page_exit_once_the_visit_is_over():
    start = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    facts, pages = browsing(start, "/", "/pricing", "/pricing/enterprise", "/blog/why-us", "/about")
    last = start + timedelta(minutes=4)

    while_browsing = quiet_session_triggers(
        facts, session_id="s", now=last + timedelta(minutes=4), rules=RULES, pages=pages
    )
    after = quiet_session_triggers(facts, session_id="s", now=last + timedelta(minutes=5), rules=RULES, pages=pages)

    assert while_browsing == []
    assert [(t.type, t.key, t.occurred_at) for t in after] == [
        ("page_exit", "page_exit:s:Pricing", start + timedelta(minutes=3))  # when the blog page was opened
    ]
    assert after[0].facts == {"page_group": "Pricing", "path": "/pricing/enterprise", "next_path": "/blog/why-us"}


def test_leaving_pricing_to_sign_up_and_buy_is_no_page_exit():
    start = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    facts, pages = browsing(start, "/pricing", "/signup")
    facts = then_track(facts, "Order Completed", {"order_id": "o-1"}, at=start + timedelta(minutes=3))

    assert quiet_session_triggers(facts, session_id="s", now=start + timedelta(hours=1), rules=RULES, pages=pages) == []


def test_leaving_product_pages_for_the_cart_and_going_is_a_cart_abandonment_not_also_a_page_exit():
    start = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    facts, pages = browsing(start, "/products/kettle", "/cart")
    facts = then_track(facts, "Product Added", {"cart_id": "c-1"}, at=start + timedelta(minutes=2))

    found = quiet_session_triggers(facts, session_id="s", now=start + timedelta(hours=1), rules=TWO_GROUPS, pages=pages)
    browsed_only = quiet_session_triggers(
        browsing(start, "/products/kettle", "/cart")[0],
        session_id="s",
        now=start + timedelta(hours=1),
        rules=TWO_GROUPS,
        pages=pages,
    )

    assert [t.type for t in found] == ["cart_abandoned"]
    assert [t.type for t in browsed_only] == ["page_exit"]  # without a cart it is the browse abandonment
    # A page-exit timeout shorter than the cart's: before the cart is due, still no page exit.
    early = quiet_session_triggers(
        facts,
        session_id="s",
        now=start + timedelta(minutes=10),
        rules=replace(TWO_GROUPS, cart_abandon_minutes=30, page_exit_minutes=5),
        pages=pages,
    )
    assert early == []


def test_going_back_and_forth_is_one_exit_per_group_per_session():
    start = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    facts, pages = browsing(start, "/pricing", "/", "/pricing", "/faq", "/pricing", "/", "/pricing")

    found = quiet_session_triggers(facts, session_id="s", now=start + timedelta(hours=1), rules=RULES, pages=pages)

    # The first time out; the later ones, and ending the visit on /pricing, are the same visit to the group.
    assert [(t.key, t.occurred_at, t.facts["next_path"]) for t in found] == [
        ("page_exit:s:Pricing", start + timedelta(minutes=1), "/")
    ]


def test_moving_between_tracked_groups_is_not_leaving_them():
    start = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    facts, pages = browsing(start, "/products/kettle", "/pricing", "/contact")

    found = quiet_session_triggers(facts, session_id="s", now=start + timedelta(hours=1), rules=TWO_GROUPS, pages=pages)

    assert [(t.facts["page_group"], t.facts["path"]) for t in found] == [("Pricing", "/pricing")]


def test_each_group_left_in_a_session_is_a_page_exit_of_its_own():
    start = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    facts, pages = browsing(start, "/products/kettle", "/", "/pricing")

    found = quiet_session_triggers(
        facts, session_id="s", now=start + timedelta(minutes=7), rules=TWO_GROUPS, pages=pages
    )

    assert [(t.key, t.occurred_at) for t in found] == [
        ("page_exit:s:Product pages", start + timedelta(minutes=1)),  # left for the home page
        ("page_exit:s:Pricing", start + timedelta(minutes=2)),  # the session ended there
    ]


def test_download_and_form_fire_with_the_event():
    at = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    download = event_facts(
        type="track",
        name="Content Downloaded",
        properties={"title": "Buyer's guide"},
        context={},
        occurred_at=at,
        event_actions=DEFAULT_EVENT_ACTIONS,
    )
    session = start_session(download, frozenset())

    found = event_triggers(download, None, session, session_id="s", message_id="m-1", rules=RULES)

    assert [(t.type, t.key, t.facts["content"]) for t in found] == [
        ("content_downloaded", "content_downloaded:m-1", "Buyer's guide")
    ]


def test_long_session_fires_once_when_crossing_the_threshold():
    start = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    before = facts_of((start, "page", "", {}, {}), (start + timedelta(minutes=5), "page", "", {}, {}))
    event = event_facts(
        type="page", name="", properties={}, context={}, occurred_at=start + timedelta(minutes=7), event_actions={}
    )
    after = add_event(before, event)

    crossing = event_triggers(event, before, after, session_id="s", message_id="m", rules=RULES)
    later = event_triggers(event, after, add_event(after, event), session_id="s", message_id="m2", rules=RULES)

    assert [t.key for t in crossing] == ["long_session:s"]
    assert later == []


@pytest.mark.parametrize("zone", [LONDON, NEW_YORK, ZoneInfo("Asia/Tokyo")])
def test_lapsed_after_seven_days_counted_in_real_time_across_dst(zone):
    # Last seen the evening before the autumn clock change in each zone's own calendar.
    last_seen = datetime(2026, 10, 24, 20, 0).replace(tzinfo=zone).astimezone(UTC)

    assert lapsed_trigger(last_seen, now=last_seen + timedelta(days=7) - timedelta(seconds=1), rules=RULES) is None
    trigger = lapsed_trigger(last_seen, now=last_seen + timedelta(days=7), rules=RULES)

    assert trigger.type == "lapsed"
    assert trigger.key == f"lapsed:{last_seen.isoformat()}"


def test_session_facts_survive_the_json_round_trip_they_are_stored_in():
    facts = cart_session(datetime(2026, 6, 1, 14, 0, tzinfo=UTC))

    assert SessionFacts.from_json(facts.to_json()) == facts
