"""A real session through /v1/batch: score, tier, explanation and the cart-abandonment trigger via the API."""

from datetime import UTC, datetime, timedelta
from threading import Thread

import pytest
from django.db import connection
from django.utils import timezone

from sequences.models import ScoreHistory, TriggerOccurrence
from sequences.tasks import detect_quiet_sessions
from sequences.triggers import detect_lapsed_contacts
from sequences.triggers import detect_quiet_sessions as detect_quiet_sessions_now
from tests.conftest import wait_until


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def abandoning_session(
    start: datetime, *, user_id="u-1", anonymous_id="anon-1", email="ada@example.com", identify=True
):
    """The DTC case: > 5 minutes on electronics product pages, a session over 6 minutes, then a cart left behind."""
    t = lambda minutes: iso(start + timedelta(minutes=minutes))  # noqa: E731
    batch = [
        {
            "type": "page",
            "anonymousId": anonymous_id,
            "name": "Home",
            "timestamp": t(0),
            "context": {"page": {"path": "/"}},
        },
        {
            "type": "track",
            "anonymousId": anonymous_id,
            "event": "Product Viewed",
            "properties": {"product_id": "sku-1", "category": "Electronics", "price": 249},
            "timestamp": t(0.5),
        },
        {
            "type": "track",
            "anonymousId": anonymous_id,
            "event": "Product Added",
            "properties": {"product_id": "sku-1", "category": "Electronics", "cart_id": "cart-77"},
            "timestamp": t(6),
        },
        {
            "type": "track",
            "anonymousId": anonymous_id,
            "event": "Checkout Started",
            "properties": {"cart_id": "cart-77"},
            "timestamp": t(6.5),
        },
    ]
    if identify:
        batch.insert(
            1,
            {
                "type": "identify",
                "userId": user_id,
                "anonymousId": anonymous_id,
                "traits": {"email": email, "firstName": "Ada", "lifecycle_stage": "customer"},
                "timestamp": t(0.2),
            },
        )
    return {"batch": batch, "sentAt": iso(timezone.now())}


@pytest.mark.django_db
def test_a_session_is_scored_on_ingest_with_an_explanation(tracker, api_for, charlie, stages):
    start = timezone.now() - timedelta(minutes=7)

    assert tracker.post("batch", abandoning_session(start)).status_code == 200

    body = api_for(charlie).get("/api/v1/contacts/u-1/").json()
    assert body["intent_score"] == pytest.approx(94, abs=3)
    assert body["intent_tier"] == "high"
    factors = {f["factor"]: f for f in body["score_factors"]}
    assert factors["Action depth"]["reason"] == "deepest action: checkout started"
    assert factors["Time spent"]["weight"] == 30
    assert sum(f["contribution"] for f in body["score_factors"]) == pytest.approx(body["intent_score"], abs=0.1)
    history = ScoreHistory.objects.get()
    assert (history.tier, history.previous_tier) == ("high", "")


@pytest.mark.django_db
def test_score_updates_live_as_the_session_goes_on(tracker, api_for, charlie, stages):
    start = timezone.now() - timedelta(minutes=10)
    tracker.post(
        "identify",
        {"userId": "u-2", "traits": {"email": "g@example.com", "lifecycle_stage": "customer"}, "timestamp": iso(start)},
    )
    tracker.post(
        "track",
        {
            "userId": "u-2",
            "event": "Product Viewed",
            "properties": {"category": "electronics"},
            "timestamp": iso(start),
        },
    )
    first = api_for(charlie).get("/api/v1/contacts/u-2/").json()

    tracker.post(
        "track", {"userId": "u-2", "event": "Cart Viewed", "timestamp": iso(start + timedelta(minutes=1, seconds=10))}
    )
    second = api_for(charlie).get("/api/v1/contacts/u-2/").json()

    assert second["intent_score"] > first["intent_score"]
    assert ScoreHistory.objects.filter(contact__user_id="u-2").count() == 3


@pytest.mark.django_db
def test_the_score_history_keeps_changes_not_repeats(tracker, stages):
    start = timezone.now() - timedelta(minutes=5)
    for _ in range(3):  # the same moment, the same facts: the same score
        tracker.post("identify", {"userId": "u-3", "traits": {"email": "r@example.com"}, "timestamp": iso(start)})
    later = iso(start + timedelta(seconds=30))
    tracker.post("track", {"userId": "u-3", "event": "Checkout Started", "timestamp": later})

    rows = ScoreHistory.objects.filter(contact__user_id="u-3").order_by("scored_at")
    scores = list(rows.values_list("score", flat=True))
    assert len(scores) == 2
    assert scores[1] > scores[0]


@pytest.mark.django_db(transaction=True)
def test_cart_abandonment_is_detected_by_the_beat_task_in_a_real_worker(
    tracker, api_for, charlie, stages, celery_worker
):
    tracker.post("batch", abandoning_session(timezone.now() - timedelta(minutes=20)))
    before = api_for(charlie).get("/api/v1/contacts/u-1/").json()["triggers"]
    assert [t["type"] for t in before] == ["long_session"]  # a 6.5-minute session, fired with the event

    detect_quiet_sessions.delay()

    assert wait_until(lambda: TriggerOccurrence.objects.filter(type="cart_abandoned").exists())
    triggers = [
        t for t in api_for(charlie).get("/api/v1/contacts/u-1/").json()["triggers"] if t["type"] != "long_session"
    ]
    assert [(t["type"], t["facts"]["cart_id"], t["status"], t["tier"]) for t in triggers] == [
        ("cart_abandoned", "cart-77", "fired", "high")
    ]
    assert triggers[0]["facts"]["category"] == "electronics"


@pytest.mark.django_db
def test_no_abandonment_while_the_visitor_is_still_active(tracker, stages):
    tracker.post("batch", abandoning_session(timezone.now() - timedelta(minutes=8)))  # last event 1.5 min ago

    assert detect_quiet_sessions_now(now=timezone.now()) == 0
    assert detect_quiet_sessions_now(now=timezone.now() + timedelta(minutes=4)) == 1


@pytest.mark.django_db
def test_an_order_for_the_cart_prevents_the_trigger(tracker, stages):
    start = timezone.now() - timedelta(minutes=30)
    tracker.post("batch", abandoning_session(start))
    tracker.post(
        "track",
        {
            "userId": "u-1",
            "event": "Order Completed",
            "properties": {"cart_id": "cart-77"},
            "timestamp": iso(start + timedelta(minutes=8)),
        },
    )

    detect_quiet_sessions_now(now=timezone.now())

    assert not TriggerOccurrence.objects.filter(type="cart_abandoned").exists()


@pytest.mark.django_db
def test_an_anonymous_abandoners_trigger_waits_until_identify(tracker, stages):
    tracker.post("batch", abandoning_session(timezone.now() - timedelta(minutes=20), identify=False))
    detect_quiet_sessions_now(now=timezone.now())
    assert TriggerOccurrence.objects.get(type="cart_abandoned").status == "waiting_for_email"

    tracker.post("identify", {"userId": "u-9", "anonymousId": "anon-1", "traits": {"email": "late@example.com"}})

    occurrence = TriggerOccurrence.objects.get(type="cart_abandoned")
    assert (occurrence.status, occurrence.contact.user_id) == ("fired", "u-9")
    assert occurrence.fired_at is not None


@pytest.mark.django_db(transaction=True)
def test_overlapping_beat_runs_record_each_abandonment_once(tracker, stages):
    for n in range(20):
        tracker.post(
            "batch", abandoning_session(timezone.now() - timedelta(minutes=20), user_id=f"u-{n}", anonymous_id=f"a-{n}")
        )
    now = timezone.now()

    def run():
        try:
            detect_quiet_sessions_now(now=now)
        finally:
            connection.close()

    threads = [Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert TriggerOccurrence.objects.filter(type="cart_abandoned").count() == 20


@pytest.mark.django_db
def test_download_trigger_fires_on_ingest(tracker, stages):
    tracker.post("identify", {"userId": "u-3", "traits": {"email": "r@example.com"}})
    tracker.post(
        "track", {"userId": "u-3", "event": "Content Downloaded", "messageId": "dl-1", "properties": {"title": "Guide"}}
    )

    occurrence = TriggerOccurrence.objects.get()
    assert (occurrence.type, occurrence.key, occurrence.status) == (
        "content_downloaded",
        "content_downloaded:dl-1",
        "fired",
    )


@pytest.mark.django_db
def test_lapsed_users_are_found_once_per_lapse(tracker, stages):
    tracker.post(
        "identify",
        {"userId": "u-4", "traits": {"email": "l@example.com"}, "timestamp": iso(timezone.now() - timedelta(days=8))},
    )

    assert detect_lapsed_contacts(now=timezone.now()) == 1
    assert detect_lapsed_contacts(now=timezone.now()) == 0
    assert TriggerOccurrence.objects.get().type == "lapsed"
