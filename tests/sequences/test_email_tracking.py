"""What comes back from a sent email: signed opens, clicks only to the email's own links, unsubscribe, a real worker."""

import re

import pytest
from django.core import signing
from django.utils import timezone

from sequences.models import EmailEvent, Event, Message
from sequences.tasks import dispatch_due_messages
from sequences.tracking_links import click_token, open_token, unsubscribe_token
from tests.conftest import wait_until
from tests.sequences.test_delivery import abandon, cart_sequence, run_pipeline  # noqa: F401  (fixture)


@pytest.fixture
def sent(tracker, cart_sequence, smtp_sink):  # noqa: F811
    abandon(tracker)
    run_pipeline()
    return Message.objects.get(status="sent")


def path_of(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


@pytest.mark.django_db
def test_a_click_redirects_to_the_emails_own_link_and_is_recorded(client, sent, smtp_sink):
    body = smtp_sink.messages[0].get_body(("plain",)).get_content()
    tracked = re.search(r"https?://[^\s()]+/t/c/[^\s()]+", body).group(0)  # the text part shows "text (url)"

    response = client.get(path_of(tracked))

    assert response.status_code == 302
    assert response["Location"] == "https://shop.example.com/cart"
    assert sent.email_events.get(kind="click").url == "https://shop.example.com/cart"
    assert Event.objects.filter(name="Email Link Clicked", contact=sent.contact).exists()


@pytest.mark.django_db
def test_a_click_token_cannot_point_outside_the_email(client, sent):
    assert client.get(f"/t/c/{click_token(sent.pk, 5)}/").status_code == 404  # no 6th link in this email


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["click", "open", "unsubscribe"])
def test_forged_or_tampered_tokens_are_refused(client, sent, kind):
    good = {"click": click_token(sent.pk, 0), "open": open_token(sent.pk), "unsubscribe": unsubscribe_token(sent.pk)}[
        kind
    ]
    tampered = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    forged = signing.dumps([sent.pk, 0] if kind == "click" else sent.pk, key="not-our-secret-key-0123456789-abcdef")
    paths = {"click": "/t/c/{}/", "open": "/t/o/{}.gif", "unsubscribe": "/u/{}/"}[kind]

    for token in (tampered, forged):
        response = client.get(paths.format(token))
        if kind == "open":
            assert response["Content-Type"] == "image/gif"  # the pixel always answers, but records nothing
        else:
            assert response.status_code == 404
    assert not EmailEvent.objects.filter(kind__in=["click", "open", "unsubscribe"]).exists()


@pytest.mark.django_db
def test_an_open_is_recorded_once_per_fetch_and_proxy_opens_are_flagged(client, sent):
    Message.objects.filter(pk=sent.pk).update(sent_at=timezone.now() - timezone.timedelta(minutes=5))

    client.get(f"/t/o/{open_token(sent.pk)}.gif", HTTP_USER_AGENT="Mozilla/5.0")
    client.get(f"/t/o/{open_token(sent.pk)}.gif", HTTP_USER_AGENT="Mozilla/5.0 (via ggpht.com GoogleImageProxy)")

    opens = list(sent.email_events.filter(kind="open").values_list("machine_open", flat=True))
    assert sorted(opens) == [False, True]


@pytest.mark.django_db
def test_the_unsubscribe_page_asks_first_then_unsubscribes(client, sent):
    page = client.get(f"/u/{unsubscribe_token(sent.pk)}/")
    assert "Unsubscribe?" in page.content.decode()
    sent.contact.refresh_from_db()
    assert sent.contact.subscription_status == "subscribed"

    client.post(f"/u/{unsubscribe_token(sent.pk)}/")

    sent.contact.refresh_from_db()
    assert sent.contact.subscription_status == "unsubscribed"


@pytest.mark.django_db(transaction=True)
def test_the_beat_dispatch_and_a_real_worker_deliver_through_smtp(tracker, cart_sequence, smtp_sink, celery_worker):  # noqa: F811
    from sequences.enrolment import enrol_pending_triggers
    from sequences.triggers import detect_quiet_sessions

    abandon(tracker)
    detect_quiet_sessions(now=timezone.now())
    enrol_pending_triggers(now=timezone.now())

    dispatch_due_messages.delay()

    assert wait_until(lambda: len(smtp_sink.messages) == 1)
    assert wait_until(lambda: Message.objects.filter(status="sent").count() == 1)


@pytest.mark.django_db
def test_an_esp_bounce_webhook_suppresses_the_contact_and_exits_its_sequences(client, sent, settings):
    import base64
    import json

    settings.ANYMAIL = {"WEBHOOK_SECRET": "hook:secret-value"}
    payload = {
        "RecordType": "Bounce",
        "Type": "HardBounce",
        "TypeCode": 1,
        "MessageID": sent.message_id_header.strip("<>"),
        "Email": sent.contact.email,
        "BouncedAt": "2026-11-29T12:00:00Z",
        "Description": "The server was unable to deliver your message",
    }

    response = client.post(
        "/anymail/postmark/tracking/",
        data=json.dumps(payload),
        content_type="application/json",
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(b"hook:secret-value").decode(),
    )

    assert response.status_code == 200
    sent.contact.refresh_from_db()
    assert sent.contact.subscription_status == "bounced"
    assert sent.email_events.filter(kind="bounce").exists()
    assert not Message.objects.filter(status="scheduled").exists()


@pytest.mark.django_db
def test_an_esp_webhook_without_the_secret_is_refused(client, sent, settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "hook:secret-value"}

    response = client.post("/anymail/postmark/tracking/", data="{}", content_type="application/json")

    assert response.status_code in (400, 401, 403)
    sent.contact.refresh_from_db()
    assert sent.contact.subscription_status == "subscribed"


@pytest.mark.django_db
def test_esp_webhooks_are_off_until_a_secret_is_set(client, sent, settings):
    import json

    settings.ANYMAIL = {}
    payload = {"RecordType": "Bounce", "Type": "HardBounce", "MessageID": "x", "Email": sent.contact.email}

    response = client.post("/anymail/postmark/tracking/", data=json.dumps(payload), content_type="application/json")

    assert response.status_code == 404
    sent.contact.refresh_from_db()
    assert sent.contact.subscription_status == "subscribed"
