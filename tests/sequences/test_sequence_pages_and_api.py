"""Building sequences in the pages and the API: steps inline, activation validated, roles, contact messages."""

from datetime import timedelta

import pytest
from django.utils import timezone

from sequences.demo_sequences import load_default_sequences
from sequences.models import Message, Segment, Sequence, Step

pytestmark = pytest.mark.django_db


@pytest.fixture
def draft(db):
    return Sequence.objects.create(name="Welcome", entry_trigger="form_submitted")


def test_an_editor_builds_a_sequence_step_by_step_and_activates_it(client, bob, draft):
    client.force_login(bob)

    client.post(f"/sequences/{draft.pk}/steps/add/", HTTP_HX_REQUEST="true")
    step = draft.steps.get()
    html = client.post(
        f"/sequences/{draft.pk}/steps/{step.pk}/",
        {
            "step-name": "Thanks",
            "step-delay_from": "trigger",
            "step-delay_min_hours": "0",
            "step-delay_max_hours": "1",
        },
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert 'id="steps"' in html
    saved = client.post(
        f"/sequences/{draft.pk}/steps/{step.pk}/copy/",
        {
            "variant_id": "new",
            "name": "Default",
            "priority": "10",
            "subject": "Thanks, {{ first_name|default:'friend' }}",
            "body": "Here is your guide: https://example.com/guide",
        },
    )
    assert saved.status_code == 302
    page = client.get(f"/sequences/{draft.pk}/").content.decode()
    assert "Thanks, {{ first_name|default:&#x27;friend&#x27; }}" in page

    client.post(f"/sequences/{draft.pk}/status/", {"status": "active"})

    draft.refresh_from_db()
    assert draft.status == "active"
    assert draft.version >= 3  # every edit bumps the version
    assert Step.objects.get().delay_max_minutes == 60


def test_an_incomplete_sequence_cannot_be_activated(client, bob, draft):
    client.force_login(bob)
    client.post(f"/sequences/{draft.pk}/steps/add/")

    response = client.post(f"/sequences/{draft.pk}/status/", {"status": "active"}, follow=True)

    assert "Not activated: Email 1 needs a default copy variant" in response.content.decode()
    draft.refresh_from_db()
    assert draft.status == "draft"


def test_steps_reorder_and_delete_inline(client, bob, draft):
    client.force_login(bob)
    for _ in range(3):
        client.post(f"/sequences/{draft.pk}/steps/add/")
    first, second, third = draft.steps.order_by("position")

    client.post(f"/sequences/{draft.pk}/steps/{third.pk}/move/", {"direction": "up"}, HTTP_HX_REQUEST="true")
    assert list(draft.steps.order_by("position").values_list("pk", flat=True)) == [first.pk, third.pk, second.pk]

    client.post(f"/sequences/{draft.pk}/steps/{first.pk}/delete/")
    assert list(draft.steps.order_by("position").values_list("pk", "position")) == [(third.pk, 0), (second.pk, 1)]


def test_a_step_form_error_is_shown_inline(client, bob, draft):
    client.force_login(bob)
    client.post(f"/sequences/{draft.pk}/steps/add/")
    step = draft.steps.get()

    html = client.post(
        f"/sequences/{draft.pk}/steps/{step.pk}/",
        {
            "step-name": "x",
            "step-delay_from": "previous",
            "step-delay_min_hours": "5",
            "step-delay_max_hours": "2",
        },
        HTTP_HX_REQUEST="true",
    ).content.decode()

    assert "must not be before its start" in html


def test_viewers_see_sequences_but_cannot_change_them(client, charlie, draft):
    client.force_login(charlie)

    assert client.get("/sequences/").status_code == 200
    assert client.get(f"/sequences/{draft.pk}/").status_code == 200
    assert client.post(f"/sequences/{draft.pk}/steps/add/").status_code == 403
    assert client.post(f"/sequences/{draft.pk}/status/", {"status": "active"}).status_code == 403
    assert client.post("/sequences/", {"name": "x", "entry_trigger": "lapsed"}).status_code == 403


@pytest.mark.parametrize("path", ["/sequences/", "/segments/", "/schedule/", "/outbox/"])
def test_sequence_pages_need_a_login(client, path):
    assert client.get(path).status_code == 302


def test_segment_form_refuses_an_invalid_condition(client, bob):
    client.force_login(bob)

    response = client.post(
        "/segments/new/",
        {
            "name": "Broken",
            "condition": '{"field": "nope", "op": "eq", "value": 1}',
            "delay_min_hours": "1",
            "delay_max_hours": "2",
        },
    )

    assert "unknown field" in response.content.decode()
    assert not Segment.objects.filter(name="Broken").exists()


@pytest.mark.parametrize("value", ["1e400", "NaN", "-Infinity"])
def test_segment_form_refuses_a_number_no_database_column_takes(client, bob, value):
    client.force_login(bob)

    response = client.post(
        "/segments/new/",
        {
            "name": "Huge",
            "condition": f'{{"field": "score.value", "op": "gt", "value": {value}}}',
            "delay_min_hours": "1",
            "delay_max_hours": "2",
        },
    )

    assert response.status_code == 200
    assert "The condition could not be read." in response.content.decode()
    assert not Segment.objects.filter(name="Huge").exists()


def test_the_api_creates_a_sequence_with_steps_and_refuses_incomplete_activation(api_for, bob):
    api = api_for(bob)
    payload = {
        "name": "API sequence",
        "entry_trigger": "cart_abandoned",
        "status": "active",
        "steps": [{"name": "One", "delay_from": "trigger", "variants": []}],
    }

    refused = api.post("/api/v1/sequences/", payload, format="json")
    payload["steps"][0]["variants"] = [
        {"name": "Default", "is_default": True, "subject": "Hi", "body": "Come back: https://example.com"}
    ]
    created = api.post("/api/v1/sequences/", payload, format="json")

    assert refused.status_code == 400
    assert "Email 1 needs a default copy variant" in refused.json()["status"][0]
    assert created.status_code == 201
    assert created.json()["steps"][0]["variants"][0]["subject"] == "Hi"


def test_the_api_is_read_only_for_viewers(api_for, charlie):
    load_default_sequences()
    api = api_for(charlie)

    assert len(api.get("/api/v1/sequences/").json()["results"]) == 3
    assert api.post("/api/v1/sequences/", {"name": "x", "entry_trigger": "lapsed"}, format="json").status_code == 403


def test_contact_messages_api_lists_each_message_with_its_reason(api_for, charlie, tracker, stages):
    from tests.sequences.test_delivery import abandon

    load_default_sequences()
    Sequence.objects.update(holdout_percent=0)
    abandon(tracker)
    from sequences.enrolment import enrol_pending_triggers
    from sequences.triggers import detect_quiet_sessions

    detect_quiet_sessions(now=timezone.now())
    enrol_pending_triggers(now=timezone.now())
    Message.objects.update(status="skipped", reason="frequency cap: test")

    body = api_for(charlie).get("/api/v1/contacts/u-1/messages/").json()

    (message,) = body["results"]
    assert message["sequence"] == "Cart abandonment (3 emails)"
    assert message["status"] == "skipped"
    assert message["skip_or_hold_reason"] == "frequency cap: test"
    assert message["scheduled_for"]


def test_schedule_shows_upcoming_sends_by_hour(client, charlie, tracker, stages):
    from tests.sequences.test_delivery import abandon

    load_default_sequences()
    Sequence.objects.update(holdout_percent=0)
    abandon(tracker)
    from sequences.enrolment import enrol_pending_triggers
    from sequences.triggers import detect_quiet_sessions

    detect_quiet_sessions(now=timezone.now())
    enrol_pending_triggers(now=timezone.now())
    Message.objects.update(send_at=timezone.now() + timedelta(hours=3))
    client.force_login(charlie)

    html = client.get("/schedule/").content.decode()

    assert "Reminder with live chat" in html
    assert 'class="bar"' in html


def test_an_editor_sets_caps_and_gates_and_a_viewer_cannot(client, bob, charlie):
    from sequences.models import Account

    client.force_login(charlie)
    assert client.post("/sending-rules/", {"cap_per_48_hours": 1}).status_code == 403

    client.force_login(bob)
    response = client.post(
        "/sending-rules/",
        {
            "quiet_hours_start": "22:00",
            "quiet_hours_end": "07:30",
            "cap_per_funnel_stage": 2,
            "cap_per_48_hours": 5,
            "decay_wait_hours": 48,
            "activity_gate_minutes": 10,
            "attribution_days": 7,
            "from_email": "",
        },
    )

    assert response.status_code == 302
    account = Account.current()
    assert (account.cap_per_48_hours, account.quiet_hours_end.isoformat(), account.decay_wait_hours) == (
        5,
        "07:30:00",
        48,
    )
