"""The Segment-compatible tracking API, end to end through HTTP into PostgreSQL."""

import base64
import json

import pytest

from sequences.models import AnonymousId, Contact, Event, LifecycleStage, RejectedEvent, SessionSummary

pytestmark = pytest.mark.django_db


def test_track_answers_like_segment_and_stores_the_event(tracker):
    response = tracker.post("track", {"userId": "u1", "event": "Product Viewed", "properties": {"sku": "a"}})

    assert response.status_code == 200
    assert response.json() == {"success": True}
    event = Event.objects.get()
    assert (event.contact.user_id, event.type, event.name, event.properties) == (
        "u1",
        "track",
        "Product Viewed",
        {"sku": "a"},
    )


@pytest.mark.parametrize(
    ("endpoint", "payload", "stored_type", "stored_name"),
    [
        ("identify", {"userId": "u1", "traits": {"email": "u1@example.com"}}, "identify", ""),
        ("page", {"anonymousId": "a1", "name": "Pricing"}, "page", "Pricing"),
        ("screen", {"anonymousId": "a1", "name": "Home"}, "screen", "Home"),
        ("group", {"userId": "u1", "groupId": "acme"}, "group", ""),
        ("alias", {"previousId": "a1", "userId": "u1"}, "alias", ""),
    ],
)
def test_every_segment_call_is_accepted(tracker, endpoint, payload, stored_type, stored_name):
    response = tracker.post(endpoint, payload)

    assert response.status_code == 200, response.content
    assert Event.objects.filter(type=stored_type, name=stored_name).count() == 1


def test_write_key_may_come_in_the_body(tracker, write_key):
    response = tracker.post("track", {"writeKey": write_key.key, "userId": "u1", "event": "x"}, auth=False)

    assert response.status_code == 200
    assert Event.objects.count() == 1


def test_unknown_write_key_is_401_naming_the_field(client, account):
    auth = "Basic " + base64.b64encode(b"wk_nope:").decode()
    response = client.post(
        "/v1/track", data=b'{"userId": "u", "event": "x"}', content_type="application/json", HTTP_AUTHORIZATION=auth
    )

    assert response.status_code == 401
    assert response.json()["field"] == "writeKey"
    assert Event.objects.count() == 0


def test_revoked_write_key_is_refused(tracker, write_key):
    write_key.revoke()

    assert tracker.post("track", {"userId": "u", "event": "x"}).status_code == 401


def test_invalid_json_is_400_with_a_json_body(tracker):
    response = tracker.post("track", None, raw=b'{"userId": "u", "event": ')

    assert response.status_code == 400
    assert "Invalid JSON" in response.json()["error"]


def test_missing_required_field_is_400_naming_it(tracker):
    response = tracker.post("track", {"userId": "u1"})

    assert response.status_code == 400
    assert response.json()["field"] == "event"
    assert RejectedEvent.objects.get().reason.startswith("Object missing required field `event`")


def test_gzip_bodies_are_accepted(tracker):
    response = tracker.post("batch", {"batch": [{"type": "track", "userId": "u", "event": "x"}]}, gzipped=True)

    assert response.status_code == 200
    assert Event.objects.count() == 1


def test_gzip_bomb_is_refused_without_inflating_it(tracker):
    response = tracker.post("batch", None, raw=b'{"batch": [' + b" " * 50_000_000 + b"]}", gzipped=True)

    assert response.status_code == 413
    assert Event.objects.count() == 0


def test_an_event_over_32_kb_is_413(tracker):
    response = tracker.post("track", {"userId": "u", "event": "x", "properties": {"blob": "x" * 33_000}})

    assert response.status_code == 413
    assert "32 KB" in response.json()["error"]


def test_a_batch_over_500_kb_is_413_and_stores_nothing(tracker):
    items = [{"type": "track", "userId": f"u{i}", "event": "x", "properties": {"pad": "y" * 20_000}} for i in range(30)]

    response = tracker.post("batch", {"batch": items})

    assert response.status_code == 413
    assert Event.objects.count() == 0


def test_batch_stores_valid_items_and_lists_invalid_ones_by_index(tracker):
    batch = [
        {"type": "track", "userId": "u1", "event": "Product Viewed"},
        {"type": "track", "event": "no id"},
        {"type": "launch", "userId": "u1"},
        {"type": "identify", "userId": "u1", "traits": {"email": "not-an-email"}},
        {"type": "track", "userId": "u2", "event": "big", "properties": {"pad": "z" * 33_000}},
        {"type": "page", "anonymousId": "a9", "name": "Home"},
    ]

    response = tracker.post("batch", {"batch": batch})

    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert [r["index"] for r in body["rejected"]] == [1, 2, 3, 4]
    assert "userId" in body["rejected"][0]["reason"]
    assert "email" in body["rejected"][2]["reason"]
    assert "32 KB" in body["rejected"][3]["reason"]
    assert sorted(Event.objects.values_list("name", flat=True)) == ["Home", "Product Viewed"]
    assert RejectedEvent.objects.filter(endpoint="batch").count() == 4


def test_import_is_an_alias_of_batch(tracker):
    response = tracker.post("import", {"batch": [{"type": "track", "userId": "u", "event": "x"}]})

    assert response.status_code == 200
    assert Event.objects.count() == 1


def test_a_repeated_message_id_is_stored_once_and_still_answered_200(tracker):
    payload = {"userId": "u1", "event": "Order Completed", "messageId": "m-1"}

    first, second = tracker.post("track", payload), tracker.post("track", payload)
    again_in_batch = tracker.post("batch", {"batch": [{**payload, "type": "track"}, {**payload, "type": "track"}]})

    assert (first.status_code, second.status_code, again_in_batch.status_code) == (200, 200, 200)
    assert Event.objects.count() == 1


def test_a_retried_batch_with_one_new_event_counts_each_event_once(tracker):
    page = lambda n: {"type": "page", "userId": "u1", "name": "Home", "messageId": f"p-{n}"}  # noqa: E731

    tracker.post("batch", {"batch": [page(1), page(2)]})
    retried = tracker.post("batch", {"batch": [page(1), page(2), page(3)]})

    assert retried.status_code == 200
    assert sorted(Event.objects.values_list("message_id", flat=True)) == ["p-1", "p-2", "p-3"]
    assert SessionSummary.objects.get().facts["page_views"] == 3


def test_the_same_message_id_from_two_sources_is_two_events(tracker, client, account):
    from sequences.models import WriteKey

    other = WriteKey.objects.create(name="App")
    tracker.post("track", {"userId": "u1", "event": "x", "messageId": "m-1"})
    auth = "Basic " + base64.b64encode(f"{other.key}:".encode()).decode()
    body = json.dumps({"userId": "u1", "event": "x", "messageId": "m-1"})
    client.post("/v1/track", data=body, content_type="application/json", HTTP_AUTHORIZATION=auth)

    assert Event.objects.count() == 2


def test_identify_merges_the_anonymous_history_into_the_known_contact(tracker):
    tracker.post("page", {"anonymousId": "anon-1", "name": "Home"})
    tracker.post("track", {"anonymousId": "anon-1", "event": "Product Viewed"})
    tracker.post("track", {"userId": "u1", "event": "Login"})  # the known contact already exists

    tracker.post("identify", {"userId": "u1", "anonymousId": "anon-1", "traits": {"email": "ada@example.com"}})

    contact = Contact.objects.get()
    assert contact.user_id == "u1"
    assert contact.email == "ada@example.com"
    assert contact.events.count() == 4
    assert list(contact.anonymous_ids.values_list("value", flat=True)) == ["anon-1"]


def test_first_identify_promotes_the_anonymous_contact(tracker):
    tracker.post("track", {"anonymousId": "anon-1", "event": "Product Viewed"})
    anonymous = Contact.objects.get()

    tracker.post("identify", {"userId": "u1", "anonymousId": "anon-1", "traits": {"firstName": "Ada"}})

    contact = Contact.objects.get()
    assert contact.pk == anonymous.pk
    assert (contact.user_id, contact.first_name) == ("u1", "Ada")


def test_alias_merges_previous_anonymous_id(tracker):
    tracker.post("track", {"anonymousId": "anon-1", "event": "Cart Viewed"})
    tracker.post("track", {"userId": "u1", "event": "Signed Up"})

    tracker.post("alias", {"previousId": "anon-1", "userId": "u1"})

    contact = Contact.objects.get()
    assert contact.events.count() == 3
    assert AnonymousId.objects.get().contact == contact


def test_a_merge_stores_what_the_known_contact_lacked_and_the_anonymous_one_knew(tracker):
    tracker.post("identify", {"anonymousId": "anon-1", "traits": {"firstName": "Ada", "plan": "pro"}})
    tracker.post("track", {"userId": "u1", "event": "Signed Up"})

    tracker.post("alias", {"previousId": "anon-1", "userId": "u1"})  # no traits of its own

    contact = Contact.objects.get()
    assert (contact.user_id, contact.first_name, contact.traits["plan"]) == ("u1", "Ada", "pro")


def test_merge_inside_one_batch_loses_no_event(tracker):
    batch = [
        {"type": "page", "anonymousId": "anon-7", "name": "Home"},
        {"type": "track", "anonymousId": "anon-7", "event": "Product Added"},
        {"type": "track", "userId": "u7", "event": "Signed In"},
        {"type": "identify", "userId": "u7", "anonymousId": "anon-7", "traits": {"email": "u7@example.com"}},
        {"type": "track", "anonymousId": "anon-7", "event": "Checkout Started"},
    ]

    assert tracker.post("batch", {"batch": batch}).status_code == 200

    contact = Contact.objects.get()
    assert contact.user_id == "u7"
    assert contact.events.count() == 5


def test_two_known_people_on_one_device_are_not_merged(tracker):
    tracker.post("identify", {"userId": "u1", "anonymousId": "shared-device"})
    tracker.post("identify", {"userId": "u2", "anonymousId": "shared-device"})

    assert set(Contact.objects.values_list("user_id", flat=True)) == {"u1", "u2"}


def test_identify_sets_profile_fields_time_zone_and_known_lifecycle_stage(tracker, stages):
    tracker.post(
        "identify",
        {
            "userId": "u1",
            "traits": {"email": "Ada@Example.com", "name": "Ada Lovelace", "lifecycle_stage": "MQL", "plan": "pro"},
            "context": {"timezone": "Europe/London"},
        },
    )

    contact = Contact.objects.get()
    assert (contact.email, contact.first_name, contact.last_name) == ("ada@example.com", "Ada", "Lovelace")
    assert (contact.time_zone, contact.lifecycle_stage, contact.traits["plan"]) == ("Europe/London", "mql", "pro")


def test_a_new_installation_knows_the_usual_stages_without_demo_data(tracker):
    # No `stages` fixture: what migrate alone leaves (seed_demo is not run in production).
    tracker.post("identify", {"userId": "u1", "traits": {"email": "u1@example.com", "lifecycle_stage": "customer"}})

    assert Contact.objects.get().lifecycle_stage == "customer"
    assert LifecycleStage.objects.count() == 8


def test_an_unknown_time_zone_in_traits_is_refused(tracker):
    response = tracker.post("identify", {"userId": "u1", "traits": {"timezone": "Mars/Olympus"}})

    assert response.status_code == 400
    assert response.json()["field"] == "traits.timezone"


def test_events_are_sessionised_by_the_account_gap(tracker, account):
    account.session_gap_minutes = 30
    account.save()
    batch = [
        {"type": "track", "userId": "u1", "event": "a", "timestamp": "2026-11-29T10:00:00Z"},
        {"type": "track", "userId": "u1", "event": "b", "timestamp": "2026-11-29T10:20:00Z"},
        {"type": "track", "userId": "u1", "event": "c", "timestamp": "2026-11-29T11:30:00Z"},
    ]
    tracker.post("batch", {"batch": batch})

    sessions = dict(Event.objects.values_list("name", "session_id"))
    assert sessions["a"] == sessions["b"] != sessions["c"]
    assert Contact.objects.get().session_id == sessions["c"]


def test_last_seen_is_the_latest_event_time(tracker):
    tracker.post("track", {"userId": "u1", "event": "a", "timestamp": "2026-11-01T10:00:00Z"})

    assert Contact.objects.get().last_seen_at.isoformat() == "2026-11-01T10:00:00+00:00"


def test_get_is_405_json(client):
    response = client.get("/v1/track")

    assert response.status_code == 405
    assert response.json()["success"] is False


def test_browsers_may_post_cross_origin(client):
    response = client.options("/v1/batch", HTTP_ORIGIN="https://shop.example.com")

    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"userId": "u1", "event": "x", "properties": {"a": "b\\u0000c"}}', "NUL"),
        (b'{"userId": "u1\\u0000", "event": "x"}', "NUL"),
        (
            b'{"userId": "u1", "event": "x", "timestamp": "9999-12-31T23:59:59Z", "sentAt": "0001-01-01T00:00:00Z"}',
            "too far",
        ),
        (b'{"userId": "u1", "event": "x", "properties": {"n": 1e999}}', "out of range"),
        (b'{"userId": "u1", "event": "x", "properties": ' + b'{"a": ' * 3000 + b"1" + b"}" * 3001, "nested too deeply"),
        (b'{"userId": "u1", "event": "x", "messageId": "' + b"m" * 201 + b'"}', "`messageId` is longer than 200"),
    ],
)
def test_hostile_payloads_get_a_400_not_a_500(tracker, raw, expected):
    response = tracker.post("track", None, raw=raw)

    assert response.status_code == 400
    assert expected in response.json()["error"]
    assert Event.objects.count() == 0


def test_a_hostile_item_in_a_batch_is_rejected_alone(tracker):
    body = (
        b'{"batch": [{"type": "track", "userId": "u1", "event": "ok"}, '
        b'{"type": "track", "userId": "u1", "event": "x\\u0000"}]}'
    )

    response = tracker.post("batch", None, raw=body)

    assert response.status_code == 200
    assert [r["index"] for r in response.json()["rejected"]] == [1]
    assert list(Event.objects.values_list("name", flat=True)) == ["ok"]


def test_the_callers_ip_is_recorded_unless_the_event_names_one(tracker):
    tracker.post("track", {"userId": "u1", "event": "a"})
    tracker.post("track", {"userId": "u1", "event": "b", "context": {"ip": "203.0.113.7"}})

    ips = dict(Event.objects.values_list("name", "context__ip"))
    assert ips == {"a": "127.0.0.1", "b": "203.0.113.7"}
