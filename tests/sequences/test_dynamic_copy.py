"""Dynamic copy end to end: the source document's rule through the preview API, saved-copy checks, escaping of
hostile names, the delivered email (real SMTP sink), view in browser and test sends."""

import re
from datetime import timedelta

import pytest
from django.utils.timezone import now
from rest_framework.test import APIClient

from sequences.models import Contact, CopyVariant, Message, Sequence, Step
from sequences.tracking_links import view_url
from tests.sequences.test_delivery import abandon, cart_sequence, run_pipeline  # noqa: F401  (fixture)
from tests.sequences.test_intent_end_to_end import abandoning_session

pytestmark = pytest.mark.django_db
ELECTRONICS_SUBJECT = "Alex, your electronics are ready—don’t let them slip away!"
HOSTILE_NAME = "<script>alert(1)</script>"
HOSTILE_PRODUCT = "<img src=x onerror=alert(2)>"


@pytest.fixture
def first_step(cart_sequence):  # noqa: F811
    return cart_sequence.steps.get(position=0)


def preview(api, step, **payload):
    return api.post("/api/v1/preview/", {"step": step.pk, **payload}, format="json")


@pytest.mark.parametrize(
    ("context", "variant", "subject"),
    [
        ({"category": "electronics", "session_seconds": 420}, "Electronics, long session", ELECTRONICS_SUBJECT),
        (
            {"category": "electronics", "session_seconds": 240},
            "Default",
            "Alex, your cart awaits—complete the purchase",
        ),
        ({"category": "shoes", "session_seconds": 420}, "Default", "Alex, your cart awaits—complete the purchase"),
    ],
)
def test_the_documents_rule_decides_the_subject_through_the_preview_api(
    api_for, charlie, first_step, context, variant, subject
):
    response = preview(api_for(charlie), first_step, context={"first_name": "Alex", **context})

    assert response.status_code == 200
    body = response.json()
    assert (body["variant"], body["subject"]) == (variant, subject)
    assert body["trace"][-1]["variant"] == variant
    assert body["trace"][-1]["result"] is True
    assert "Hi Alex, you stopped at" in body["text"]
    assert body["html"].startswith("<!DOCTYPE html>") or body["html"].lower().startswith("<!doctype html>")
    assert 'style="' in body["html"]  # CSS inlined


def test_the_trace_explains_why_the_electronics_variant_did_not_win(api_for, charlie, first_step):
    body = preview(api_for(charlie), first_step, context={"category": "electronics", "session_seconds": 240}).json()

    first = body["trace"][0]
    assert first["variant"] == "Electronics, long session"
    assert first["result"] is False
    assert "✗ session.duration_seconds > 300 (is 240)" in first["why"]


def test_a_real_contact_is_previewed_from_their_own_trigger_and_product(api_for, charlie, tracker, first_step):
    abandon(tracker, user_id="u-7")
    run_pipeline()  # detect the abandonment (it is what the preview reads)

    body = preview(api_for(charlie), first_step, user_id="u-7").json()

    assert body["variant"] == "Electronics, long session"
    assert body["subject"] == "Ada, your electronics are ready—don’t let them slip away!"


@pytest.mark.parametrize(
    ("payload", "field"),
    [({}, "user_id"), ({"user_id": "u-1", "context": {}}, "user_id"), ({"user_id": "nobody"}, "user_id")],
)
def test_preview_input_errors_name_the_field(api_for, charlie, first_step, payload, field):
    response = preview(api_for(charlie), first_step, **payload)

    assert response.status_code == 400
    assert field in response.json()


def test_a_step_without_a_default_variant_cannot_be_previewed(api_for, charlie, first_step):
    first_step.variants.filter(is_default=True).delete()

    response = preview(api_for(charlie), first_step, context={})

    assert response.status_code == 400
    assert "default" in response.json()["step"][0]


def test_the_preview_api_needs_a_login(first_step):
    assert APIClient().post("/api/v1/preview/", {"step": first_step.pk}, format="json").status_code in (401, 403)


def test_template_errors_are_refused_on_save_with_the_field_and_line(api_for, bob, cart_sequence):  # noqa: F811
    api = api_for(bob)
    data = api.get(f"/api/v1/sequences/{cart_sequence.pk}/").json()
    data["steps"][0]["variants"][0]["body"] = "Hello\n{{ frist_name }}"

    response = api.put(f"/api/v1/sequences/{cart_sequence.pk}/", data, format="json")

    assert response.status_code == 400
    problems = response.json()["steps"]["0"]["variants"]["0"]["body"]  # DRF keys list errors by index
    assert any("Line 2" in problem and "frist_name" in problem for problem in problems)
    assert "frist_name" not in "".join(CopyVariant.objects.values_list("body", flat=True))  # nothing stored


def test_the_copy_editor_refuses_a_broken_template_with_the_line(client, bob, first_step):
    client.force_login(bob)
    default = first_step.variants.get(is_default=True)

    response = client.post(
        f"/sequences/{first_step.sequence_id}/steps/{first_step.pk}/copy/",
        {"variant_id": default.pk, "name": "Default", "priority": "10", "subject": "Hi {% if %}", "body": "x"},
    )

    assert response.status_code == 422
    assert "Line 1" in response.content.decode()
    default.refresh_from_db()
    assert default.subject != "Hi {% if %}"


def test_the_delivered_email_has_the_variant_both_parts_tracked_links_and_unsubscribe_headers(
    tracker,
    cart_sequence,  # noqa: F811
    smtp_sink,
):
    abandon(tracker)
    run_pipeline()

    (email,) = smtp_sink.messages
    html = email.get_body(("html",)).get_content()
    text = email.get_body(("plain",)).get_content()
    assert email["Subject"] == "Ada, your electronics are ready—don’t let them slip away!"
    assert "Hi Ada, you stopped at" in text
    assert "Hi Ada, you stopped at" in html
    assert "Claim your discount" in text
    links = re.findall(r'href="([^"]+)"', html)
    assert links
    assert all("/t/c/" in link or "/u/" in link or "/t/v/" in link for link in links)
    assert "/t/o/" in html  # open pixel
    assert email["List-Unsubscribe"].startswith("<http")
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    message = Message.objects.get(status="sent")
    assert message.variant == "Electronics, long session"
    assert message.copy_variant.name == "Electronics, long session"
    assert message.copy_trace[-1]["result"] is True


def test_hostile_names_are_escaped_in_the_email_and_in_the_dashboard(
    client,
    bob,
    tracker,
    first_step,
    smtp_sink,
):
    batch = abandoning_session(now() - timedelta(minutes=20))
    for event in batch["batch"]:
        if event.get("event") == "Product Added":
            event["properties"]["name"] = HOSTILE_PRODUCT
    tracker.post("batch", batch)
    Contact.objects.update(first_name=HOSTILE_NAME)
    run_pipeline()

    html = smtp_sink.messages[0].get_body(("html",)).get_content()
    assert "<script>" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    client.force_login(bob)
    page = client.post(
        f"/sequences/{first_step.sequence_id}/steps/{first_step.pk}/copy/preview/",
        {
            "variant_id": first_step.variants.get(is_default=True).pk,
            "name": "Default",
            "priority": "10",
            "subject": "Hi {{ first_name }}",
            "opening": "You stopped at {{ product.name }}",
            "p-who": "contact",
            "p-contact": "u-1",
            "p-trigger_type": "cart_abandoned",
            "p-session_seconds": "60",
            "p-tier": "high",
            "p-score": "50",
        },
    ).content.decode()
    assert "<script>alert(1)" not in page
    assert "<img src=x onerror" not in page
    assert 'sandbox title="Desktop preview"' in page  # the email itself is shown in a sandboxed frame


def test_a_broken_template_fails_the_message_with_a_reason_instead_of_sending(
    tracker,
    cart_sequence,  # noqa: F811
    smtp_sink,
):
    CopyVariant.objects.filter(step__position=0).update(body="{{ 'x' * 10000000 }}")  # saved around the checks
    abandon(tracker)

    run_pipeline()

    message = Message.objects.get(step__position=0)
    assert message.status == "failed"
    assert message.reason.startswith("copy could not be rendered")
    assert smtp_sink.messages == []


def test_view_in_browser_shows_the_sent_email_and_refuses_forged_links(client, tracker, cart_sequence, smtp_sink):  # noqa: F811
    abandon(tracker)
    run_pipeline()
    message = Message.objects.get(status="sent")
    path = "/" + view_url(message.pk).split("://", 1)[1].split("/", 1)[1]

    page = client.get(path)

    assert page.status_code == 200
    assert "Hi Ada, you stopped at" in page.content.decode()
    assert "default-src 'none'" in page["Content-Security-Policy"]
    assert client.get(path[:-3] + "xx/").status_code == 404


def test_an_editor_sends_a_test_of_the_preview(client, bob, first_step, smtp_sink):
    client.force_login(bob)

    client.post(
        f"/sequences/{first_step.sequence_id}/steps/{first_step.pk}/copy/test-send/",
        {
            "to": "me@example.com",
            "p-who": "hypothetical",
            "p-trigger_type": "cart_abandoned",
            "p-session_seconds": "420",
            "p-category": "electronics",
            "p-tier": "high",
            "p-score": "90",
            "p-first_name": "Alex",
        },
    )

    (email,) = smtp_sink.messages
    assert email["To"] == "me@example.com"
    assert email["Subject"] == f"[Test] {ELECTRONICS_SUBJECT}"
    assert {part.get_content_type() for part in email.walk()} >= {"text/plain", "text/html"}


def test_viewers_cannot_send_tests_or_save_copy(client, charlie, first_step):
    client.force_login(charlie)
    base = f"/sequences/{first_step.sequence_id}/steps/{first_step.pk}/copy/"

    assert client.get(base).status_code == 200
    assert client.post(base + "test-send/", {"to": "x@example.com"}).status_code == 403
    assert client.post(base, {"variant_id": "new", "name": "x", "subject": "x"}).status_code == 403


def test_activation_needs_a_default_variant_on_every_step(client, bob):
    sequence = Sequence.objects.create(name="No copy", entry_trigger="lapsed")
    Step.objects.create(sequence=sequence, name="One")
    client.force_login(bob)

    client.post(f"/sequences/{sequence.pk}/status/", {"status": "active"})

    sequence.refresh_from_db()
    assert sequence.status == "draft"


def test_a_malformed_variant_in_a_link_or_form_is_a_404_not_a_crash(client, bob, first_step):
    client.force_login(bob)
    base = f"/sequences/{first_step.sequence_id}/steps/{first_step.pk}/copy/"

    assert client.get(f"{base}?variant=abc").status_code == 404
    assert client.get(f"{base}?variant=999999").status_code == 404
    assert client.post(f"{base}preview/", {"variant_id": "1; drop"}).status_code == 404


def test_a_control_group_message_records_the_variant_the_contact_would_have_got(tracker, cart_sequence):  # noqa: F811
    cart_sequence.holdout_percent = 100
    cart_sequence.save()
    abandon(tracker)

    run_pipeline()

    withheld = Message.objects.filter(status="withheld").order_by("step__position")
    assert [m.variant for m in withheld] == ["Electronics, long session", "Default", "Default"]
    assert withheld[0].copy_trace[-1]["result"] is True
