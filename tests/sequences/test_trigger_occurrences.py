"""Trigger occurrences on PostgreSQL, through the tracking API and the beat tasks: which abandonments, page exits
and lapses a marketer sees on a contact, and which ones start emails."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from sequences.demo_sequences import load_default_sequences
from sequences.enrolment import enrol_pending_triggers
from sequences.models import Contact, Enrolment, TriggerOccurrence
from sequences.triggers import detect_lapsed_contacts, detect_quiet_sessions
from tests.sequences.test_intent_end_to_end import abandoning_session, iso


def triggers_shown(api, user_id: str, kind: str) -> list[dict]:
    """The contact's triggers of one kind as the profile API lists them, oldest first."""
    found = [t for t in api.get(f"/api/v1/contacts/{user_id}/").json()["triggers"] if t["type"] == kind]
    return sorted(found, key=lambda t: t["occurred_at"])


def add_to_cart(tracker, at, cart_id="cart-77"):
    tracker.post(
        "track",
        {
            "userId": "u-1",
            "event": "Product Added",
            "properties": {"product_id": "sku-2", "category": "Electronics", "cart_id": cart_id},
            "timestamp": iso(at),
        },
    )


@pytest.mark.django_db
def test_a_persistent_cart_left_again_in_a_later_visit_is_abandoned_again(tracker, api_for, charlie, stages):
    monday = timezone.now() - timedelta(hours=3)
    tracker.post("batch", abandoning_session(monday))
    detect_quiet_sessions(now=monday + timedelta(minutes=20))
    add_to_cart(tracker, timezone.now() - timedelta(minutes=20))  # hours later: a new session, the same cart

    detect_quiet_sessions(now=timezone.now())

    abandoned = triggers_shown(api_for(charlie), "u-1", "cart_abandoned")
    assert [(t["facts"]["cart_id"], t["status"]) for t in abandoned] == [("cart-77", "fired"), ("cart-77", "fired")]


@pytest.mark.django_db
def test_a_cart_left_twice_in_one_visit_is_one_abandonment(tracker, api_for, charlie, stages):
    start = timezone.now() - timedelta(minutes=40)
    tracker.post("batch", abandoning_session(start))  # the cart is left at start + 6.5 minutes
    detect_quiet_sessions(now=start + timedelta(minutes=13))
    add_to_cart(tracker, start + timedelta(minutes=20))  # back within the session gap, one more thing added

    detect_quiet_sessions(now=timezone.now())
    detect_quiet_sessions(now=timezone.now() + timedelta(minutes=1))

    # The shopper is already in the cart emails, which show the cart as it is when they go out.
    abandoned = triggers_shown(api_for(charlie), "u-1", "cart_abandoned")
    assert len(abandoned) == 1
    left_at = parse_datetime(abandoned[0]["occurred_at"])
    assert abs(left_at - (start + timedelta(minutes=6.5))) < timedelta(seconds=5)  # the first time it was left


def lapsed_visitor(tracker, anonymous_id="anon-9"):
    """A visitor who looked around and downloaded a guide 8 days ago without saying who they are."""
    long_ago = iso(timezone.now() - timedelta(days=8))
    tracker.post(
        "batch",
        {
            "batch": [
                {
                    "type": "page",
                    "anonymousId": anonymous_id,
                    "timestamp": long_ago,
                    "context": {"page": {"path": "/"}},
                },
                {
                    "type": "track",
                    "anonymousId": anonymous_id,
                    "event": "Content Downloaded",
                    "properties": {"title": "Buyer's guide"},
                    "timestamp": long_ago,
                },
            ]
        },
    )
    detect_lapsed_contacts(now=timezone.now())
    assert set(TriggerOccurrence.objects.values_list("type", "status")) == {
        ("lapsed", "waiting_for_email"),
        ("content_downloaded", "waiting_for_email"),
    }


@pytest.mark.django_db
def test_a_lapsed_visitor_who_comes_back_and_signs_in_gets_no_win_back(tracker, stages):
    load_default_sequences()
    lapsed_visitor(tracker)

    tracker.post("page", {"anonymousId": "anon-9", "name": "Home"})
    tracker.post("identify", {"userId": "u-9", "anonymousId": "anon-9", "traits": {"email": "back@example.com"}})
    enrol_pending_triggers(now=timezone.now())

    # The lapse ended with this visit; what the visitor did before it still counts.
    assert list(TriggerOccurrence.objects.values_list("type", "status")) == [("content_downloaded", "fired")]
    assert not Enrolment.objects.filter(sequence__entry_trigger="lapsed").exists()


@pytest.mark.django_db
def test_a_lapsed_device_merged_into_an_active_customer_starts_no_win_back(tracker, stages):
    tracker.post("identify", {"userId": "u-5", "traits": {"email": "active@example.com"}})
    tracker.post("track", {"userId": "u-5", "event": "Product Viewed"})
    lapsed_visitor(tracker, anonymous_id="old-laptop")

    tracker.post("identify", {"userId": "u-5", "anonymousId": "old-laptop"})

    assert not TriggerOccurrence.objects.filter(type="lapsed").exists()


@pytest.mark.django_db
def test_a_server_side_identify_sent_now_is_no_return_and_releases_the_lapse(tracker, stages):
    load_default_sequences()
    lapsed_visitor(tracker)

    # A CRM or server-side call without a timestamp: dated now, but nobody visited.
    tracker.post("identify", {"userId": "u-9", "anonymousId": "anon-9", "traits": {"email": "crm@example.com"}})
    enrol_pending_triggers(now=timezone.now())

    assert TriggerOccurrence.objects.get(type="lapsed").status == "fired"
    assert Enrolment.objects.filter(sequence__entry_trigger="lapsed").exists()


@pytest.mark.django_db
def test_an_email_opened_is_no_return_and_releases_the_lapse(tracker, stages):
    load_default_sequences()
    lapsed_visitor(tracker)

    # A mail client fetching the pixel is recorded on the timeline as a track event; nobody visited.
    tracker.post("track", {"anonymousId": "anon-9", "event": "Email Opened", "properties": {"machine_open": True}})
    tracker.post("identify", {"userId": "u-9", "anonymousId": "anon-9", "traits": {"email": "crm@example.com"}})
    enrol_pending_triggers(now=timezone.now())

    assert TriggerOccurrence.objects.get(type="lapsed").status == "fired"


@pytest.mark.django_db
def test_an_email_learnt_without_a_visit_releases_the_lapse(tracker, stages):
    load_default_sequences()
    lapsed_visitor(tracker)

    # A CRM sync names the visitor; its identify is dated when the address was captured, not a visit now.
    tracker.post(
        "import",
        {
            "batch": [
                {
                    "type": "identify",
                    "userId": "u-9",
                    "anonymousId": "anon-9",
                    "traits": {"email": "away@example.com"},
                    "timestamp": iso(timezone.now() - timedelta(days=8)),
                }
            ]
        },
    )
    enrol_pending_triggers(now=timezone.now())

    assert TriggerOccurrence.objects.get(type="lapsed").status == "fired"
    assert Enrolment.objects.filter(sequence__entry_trigger="lapsed", contact__user_id="u-9").exists()


def browse(tracker, user_id: str, start, *steps):
    """Page views (a path) and events (an event name) one minute apart, by a known contact."""
    batch = [
        {"type": "identify", "userId": user_id, "traits": {"email": f"{user_id}@example.com"}, "timestamp": iso(start)}
    ]
    for n, step in enumerate(steps):
        at = iso(start + timedelta(minutes=n))
        if step.startswith("/"):
            batch.append({"type": "page", "userId": user_id, "timestamp": at, "context": {"page": {"path": step}}})
        else:
            batch.append({"type": "track", "userId": user_id, "event": step, "timestamp": at})
    tracker.post("batch", {"batch": batch})


@pytest.mark.django_db
def test_leaving_pricing_for_the_rest_of_the_site_is_one_page_exit_per_visit(tracker, api_for, charlie, stages):
    start = timezone.now() - timedelta(minutes=30)
    browse(tracker, "u-7", start, "/", "/pricing", "/blog/why-us", "/pricing", "/about", "/pricing", "/careers")

    detect_quiet_sessions(now=timezone.now())
    detect_quiet_sessions(now=timezone.now() + timedelta(minutes=1))

    exits = triggers_shown(api_for(charlie), "u-7", "page_exit")
    assert [(t["status"], t["facts"]) for t in exits] == [
        ("fired", {"page_group": "Pricing", "path": "/pricing", "next_path": "/blog/why-us"})
    ]


@pytest.mark.django_db
def test_leaving_pricing_to_check_out_and_buy_is_no_page_exit(tracker, stages):
    start = timezone.now() - timedelta(minutes=30)
    browse(tracker, "u-8", start, "/pricing", "/checkout", "Order Completed", "/thanks")

    detect_quiet_sessions(now=timezone.now())

    assert not TriggerOccurrence.objects.filter(type="page_exit").exists()


@pytest.mark.django_db
def test_the_beat_reads_page_paths_with_the_same_queries_for_two_sessions_or_twenty(tracker, stages):
    def queries_for(users):
        start = timezone.now() - timedelta(minutes=30)
        for user in users:
            browse(tracker, user, start, "/pricing", "/", "/products/kettle", "/contact")
        with CaptureQueriesContext(connection) as queries:
            detect_quiet_sessions(now=timezone.now())
        return len(queries)

    few = queries_for([f"a-{n}" for n in range(2)])
    many = queries_for([f"b-{n}" for n in range(20)])

    assert few == many
    assert TriggerOccurrence.objects.filter(type="page_exit").count() == 44  # Pricing and Product pages, each


@pytest.mark.django_db
def test_a_trigger_keeps_the_score_of_its_own_moment_not_the_batchs_end(tracker, stages):
    # A server sends a contact's afternoon in one batch: an early download, then a deep shopping session.
    start = timezone.now() - timedelta(minutes=30)
    at = lambda minutes: iso(start + timedelta(minutes=minutes))  # noqa: E731
    batch = [
        {"type": "identify", "userId": "u-1", "traits": {"email": "u1@example.com"}, "timestamp": at(0)},
        {"type": "track", "userId": "u-1", "event": "Content Downloaded", "timestamp": at(0.5)},
        {"type": "track", "userId": "u-1", "event": "Product Added", "timestamp": at(5)},
        {"type": "track", "userId": "u-1", "event": "Checkout Started", "timestamp": at(7)},
    ]

    tracker.post("batch", {"batch": batch})

    download = TriggerOccurrence.objects.get(type="content_downloaded")
    final = Contact.objects.get(user_id="u-1").intent_score
    assert download.score < final - 20  # scored as the download left the session, half a minute in
