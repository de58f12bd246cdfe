"""What a broken or hostile client can send the tracking API: a clear 4xx naming the problem, never a 500, and
nothing already stored (or sent alongside and valid) lost. Each case here was found answering 500 or losing data."""

import gzip
import os
from datetime import timedelta

import pytest
from django.utils import timezone

from sequences.models import Event, RejectedEvent

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("timestamp", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_a_time_outside_what_utc_can_hold_is_a_400_and_pages_still_load(tracker, client, alice, timestamp):
    tracker.post("track", {"userId": "t1", "event": "Before"})

    response = tracker.post("track", {"userId": "t1", "event": "X", "timestamp": timestamp})

    assert (response.status_code, response.json()["field"]) == (400, "timestamp")
    assert list(Event.objects.values_list("name", flat=True)) == ["Before"]
    client.force_login(alice)
    assert client.get("/contacts/").status_code == 200
    assert client.get("/api/v1/contacts/t1/").status_code == 200


def test_a_time_before_1970_is_refused_by_index_in_a_batch(tracker):
    batch = {
        "batch": [
            {"type": "track", "userId": "t1", "event": "Old", "timestamp": "1969-12-31T23:59:59Z"},
            {"type": "track", "userId": "t1", "event": "Fine"},
        ]
    }

    body = tracker.post("batch", batch).json()

    assert body["rejected"] == [{"index": 0, "reason": "`timestamp` is before 1970: not a time this site saw."}]
    assert list(Event.objects.values_list("name", flat=True)) == ["Fine"]


def test_an_event_dated_in_the_future_is_dated_when_received_and_sessions_stay_whole(tracker):
    before = timezone.now()
    tracker.post("track", {"userId": "t1", "event": "Ahead", "timestamp": "2099-01-01T00:00:00Z"})
    start = timezone.now()
    for minute in range(3):
        when = (start + timedelta(minutes=minute)).isoformat()
        tracker.post("track", {"userId": "t1", "event": f"Now {minute}", "timestamp": when})

    ahead = Event.objects.get(name="Ahead")
    assert before <= ahead.occurred_at <= timezone.now()
    assert Event.objects.values("session_id").distinct().count() == 1


@pytest.mark.parametrize(
    "raw",
    [b"\x00\x01", b'{"userId": "u\x00", "event": "x"}', b'{"batch": [\x00]}'],
    ids=["binary", "nul-in-string", "nul-in-batch"],
)
def test_a_raw_nul_byte_is_a_400_and_is_kept_for_the_admin(tracker, raw):
    single = tracker.post("track", None, raw=raw)
    batch = tracker.post("batch", None, raw=raw)

    assert (single.status_code, batch.status_code) == (400, 400)
    assert "Invalid JSON" in single.json()["error"]
    assert RejectedEvent.objects.count() == 2
    assert all("\x00" not in r.payload_excerpt for r in RejectedEvent.objects.all())


def test_half_an_emoji_in_one_item_does_not_lose_the_batch(tracker):
    # JavaScript cut "😀" (\ud83d\ude00) in half; a lone low half; a whole pair; and an escaped backslash
    # followed by text that only looks like an escape, which must stay as it is.
    body = (
        rb'{"batch": ['
        rb'{"type": "track", "userId": "u1", "event": "Cut", "properties": {"title": "Sale \ud83d"}},'
        rb'{"type": "track", "userId": "u1", "event": "Low", "properties": {"title": "\ude00!"}},'
        rb'{"type": "track", "userId": "u1", "event": "Whole", "properties": {"title": "\ud83d\ude00"}},'
        rb'{"type": "track", "userId": "u1", "event": "Text", "properties": {"title": "C:\\ud83d"}}'
        rb"]}"
    )

    response = tracker.post("batch", None, raw=body)

    assert response.json() == {"success": True}
    titles = dict(Event.objects.values_list("name", "properties__title"))
    assert titles == {"Cut": "Sale \ufffd", "Low": "\ufffd!", "Whole": "😀", "Text": "C:\\ud83d"}


def test_a_lone_surrogate_in_a_single_call_is_stored_not_called_truncated(tracker):
    response = tracker.post("track", None, raw=rb'{"userId": "u1", "event": "a\ud800b"}')

    assert response.status_code == 200
    assert Event.objects.get().name == "a\ufffdb"


def test_an_unsupported_content_encoding_is_415_naming_it(tracker):
    response = tracker.post("track", {"userId": "u1", "event": "x"}, headers={"HTTP_CONTENT_ENCODING": "deflate"})

    assert response.status_code == 415
    assert response.json() == {
        "success": False,
        "error": "Content-Encoding deflate is not supported: send gzip or no encoding.",
        "field": "Content-Encoding",
    }


def test_a_gzip_body_past_djangos_upload_limit_is_413_and_shown_to_the_admin(tracker, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100_000
    incompressible = gzip.compress(os.urandom(150_000))

    response = tracker.post("batch", None, raw=incompressible, headers={"HTTP_CONTENT_ENCODING": "gzip"})

    assert response.status_code == 413
    assert response.json()["error"] == "Request body is larger than 500 KB."
    rejected = RejectedEvent.objects.get()
    assert (rejected.endpoint, rejected.reason) == ("batch", "Request body is larger than 500 KB.")


def test_a_batch_over_500_kb_is_kept_as_one_rejection_when_the_header_names_the_key(tracker):
    items = [{"type": "track", "userId": "u1", "event": "x", "properties": {"pad": "p" * 1000}}] * 600

    response = tracker.post("batch", {"batch": items})

    assert response.status_code == 413
    assert RejectedEvent.objects.get().reason == "Request body is larger than 500 KB."
    assert Event.objects.count() == 0


def test_thousands_of_bad_items_are_counted_not_all_listed(tracker):
    body = b'{"batch": [' + b",".join([b"1"] * 2500) + b', {"type": "track", "userId": "u1", "event": "ok"}]}'

    answer = tracker.post("batch", None, raw=body).json()

    assert len(answer["rejected"]) == 1000
    assert answer["rejected"][0]["index"] == 0
    assert answer["rejected_not_listed"] == 1500
    assert RejectedEvent.objects.count() == 1000
    assert list(Event.objects.values_list("name", flat=True)) == ["ok"]


@pytest.mark.parametrize(
    ("proxies", "forwarded", "recorded"),
    [
        (0, "198.51.100.1", "127.0.0.1"),  # no proxy trusted: the header is the client's to forge
        (1, "198.51.100.1", "198.51.100.1"),
        (1, "10.0.0.9, 198.51.100.1", "198.51.100.1"),  # the client wrote the first entry itself
        (2, "198.51.100.1, 10.0.0.2", "198.51.100.1"),
        (2, "10.0.0.2", "127.0.0.1"),  # fewer entries than proxies: not from the proxies, not believed
    ],
)
def test_behind_trusted_proxies_the_callers_address_comes_from_x_forwarded_for(
    tracker, settings, proxies, forwarded, recorded
):
    settings.TRUSTED_PROXIES = proxies

    tracker.post("track", {"userId": "u1", "event": "x"}, headers={"HTTP_X_FORWARDED_FOR": forwarded})

    assert Event.objects.get().context["ip"] == recorded
