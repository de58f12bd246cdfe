"""The pure decoding core of the tracking API: what Segment clients send, and what we refuse."""

import contextlib
import json
from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sequences.tracking.payloads import (
    PayloadError,
    corrected_time,
    decode_batch,
    decode_message,
    replace_lone_surrogates,
    to_incoming_event,
)

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def incoming(payload: dict, expected_type: str | None = None, **kwargs):
    return to_incoming_event(decode_message(json.dumps(payload).encode(), expected_type), received_at=NOW, **kwargs)


def test_track_call_becomes_an_event_with_name_and_properties():
    event = incoming({"userId": "u1", "event": "Product Viewed", "properties": {"price": 9.5}}, "track")

    assert (event.type, event.name, event.user_id) == ("track", "Product Viewed", "u1")
    assert event.properties == {"price": 9.5}


def test_numeric_user_ids_are_stored_as_strings():
    assert incoming({"userId": 42, "event": "x"}, "track").user_id == "42"


def test_unknown_keys_are_accepted_as_segment_does():
    event = incoming({"anonymousId": "a", "event": "x", "integrations": {"All": True}, "_metadata": {}}, "track")

    assert event.anonymous_id == "a"


def test_a_message_without_any_id_is_refused_naming_the_field():
    with pytest.raises(PayloadError) as error:
        incoming({"event": "x"}, "track")

    assert error.value.field == "userId"


def test_a_track_without_event_name_is_refused_naming_the_field():
    with pytest.raises(PayloadError) as error:
        incoming({"userId": "u"}, "track")

    assert error.value.field == "event"


def test_a_wrongly_typed_field_is_named():
    with pytest.raises(PayloadError) as error:
        incoming({"userId": "u", "event": "x", "properties": "not an object"}, "track")

    assert error.value.field == "properties"


def test_batch_items_name_their_type_and_unknown_types_are_refused():
    with pytest.raises(PayloadError) as error:
        decode_message(b'{"type": "purchase", "userId": "u"}')

    assert error.value.field == "type"


def test_alias_needs_previous_id_and_user_id():
    event = incoming({"type": "alias", "previousId": "anon-1", "userId": "u1"})
    assert (event.previous_id, event.user_id) == ("anon-1", "u1")

    with pytest.raises(PayloadError):
        incoming({"type": "alias", "previousId": "anon-1", "anonymousId": "x"})


def test_missing_message_id_gets_a_server_id():
    assert incoming({"userId": "u", "event": "x"}, "track").message_id.startswith("server-")


def test_clock_skew_is_corrected_from_sent_at():
    # The client's clock is 1 hour fast: it says the event happened at 12:59:50 and was sent at 13:00:00.
    event = incoming(
        {"userId": "u", "event": "x", "timestamp": "2026-11-29T12:59:50Z", "sentAt": "2026-11-29T13:00:00Z"},
        "track",
    )

    assert event.occurred_at == NOW - timedelta(seconds=10)


def test_batch_sent_at_applies_to_its_events():
    event = incoming(
        {"userId": "u", "event": "x", "timestamp": "2026-11-29T12:59:00Z"},
        "track",
        batch_sent_at=NOW + timedelta(hours=2),
    )

    assert event.occurred_at == NOW - timedelta(hours=1, minutes=1)


def test_without_timestamps_the_event_happened_when_received():
    assert incoming({"userId": "u", "event": "x"}, "track").occurred_at == NOW


def test_session_id_from_the_payload_is_kept():
    event = incoming({"userId": "u", "event": "x", "context": {"sessionId": 1700000}}, "track")

    assert event.session_id == "1700000"


def test_page_call_keeps_name_and_category():
    event = incoming({"anonymousId": "a", "name": "Pricing", "category": "Docs"}, "page")

    assert (event.type, event.name, event.properties["category"]) == ("page", "Pricing", "Docs")


def test_batch_envelope_keeps_items_raw_for_per_item_validation():
    envelope = decode_batch(b'{"batch": [{"type": "track"}, 5], "sentAt": "2026-11-29T12:00:00Z"}')

    assert len(envelope.batch) == 2
    assert envelope.sentAt == NOW


def test_invalid_json_is_a_payload_error():
    with pytest.raises(PayloadError, match="Invalid JSON"):
        decode_batch(b"{not json")


@given(
    # From 1970, the earliest time the API accepts (see the test after this one).
    timestamp=st.datetimes(min_value=datetime(1970, 1, 1), timezones=st.just(UTC)),
    skew=st.timedeltas(min_value=timedelta(days=-3), max_value=timedelta(days=3)),
    delay=st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=5)),
)
def test_skew_correction_recovers_the_true_time_whatever_the_client_clock(timestamp, skew, delay):
    # An event really happens at `timestamp` and is sent after `delay`; the client clock is off by `skew`.
    try:
        received_at = timestamp + delay
        client_timestamp, client_sent_at = timestamp + skew, received_at + skew
    except OverflowError:
        return

    assert corrected_time(timestamp=client_timestamp, sent_at=client_sent_at, received_at=received_at) == timestamp


@given(
    timestamp=st.datetimes(
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=14)), timezone(-timedelta(hours=14))])
    ),
    sent_at=st.none() | st.datetimes(timezones=st.just(UTC)),
)
def test_a_corrected_time_is_a_real_utc_time_from_1970_and_never_after_receipt(timestamp, sent_at):
    received_at = datetime(2026, 11, 30, 12, tzinfo=UTC)
    try:
        moment = corrected_time(timestamp=timestamp, sent_at=sent_at, received_at=received_at)
    except (PayloadError, OverflowError):  # OverflowError: the caller turns it into a PayloadError
        return

    assert datetime(1970, 1, 1, tzinfo=UTC) <= moment <= received_at
    assert moment.utcoffset() == timedelta(0)


# Lone halves (Cs), letters, emoji (So, beyond U+FFFF: a pair once escaped) and backslashes.
@given(st.text(alphabet=st.characters(categories=["Cs", "Ll", "So"], include_characters="\\\\"), max_size=40))
def test_lone_surrogates_become_the_replacement_character_and_nothing_else_changes(text):
    # json.dumps escapes every non-ASCII character, lone UTF-16 halves included, as a JavaScript client would.
    raw = json.dumps({"text": text}).encode()
    expected = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")

    assert msgspec.json.decode(replace_lone_surrogates(raw))["text"] == expected


@given(st.binary(max_size=300))
def test_decoding_arbitrary_bytes_never_raises_anything_but_payload_error(raw):
    for decode in (decode_batch, decode_message):
        with contextlib.suppress(PayloadError):
            decode(raw)
