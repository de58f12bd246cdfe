"""Sequences end to end on PostgreSQL with a real SMTP server: enrolment, sending, exits, retries, races."""

from datetime import time, timedelta
from threading import Thread

import pytest
from django.db import connection, transaction
from django.utils import timezone

from sequences.delivery import claim_due_messages, recover_stuck_messages, send_claimed_messages
from sequences.demo_sequences import load_default_sequences
from sequences.enrolment import enrol_pending_triggers
from sequences.models import Account, Contact, Enrolment, Message, Sequence, TriggerOccurrence
from sequences.triggers import detect_quiet_sessions
from tests.sequences.test_intent_end_to_end import abandoning_session, iso


@pytest.fixture
def cart_sequence(db, stages):
    load_default_sequences()
    sequence = Sequence.objects.get(name="Cart abandonment (3 emails)")
    sequence.holdout_percent = 0
    sequence.save()
    # These tests run at any hour: no quiet hours (test_send_timing.py covers them).
    account = Account.current()
    account.quiet_hours_start = account.quiet_hours_end = time(0, 0)
    account.save()
    return sequence


def abandon(tracker, user_id="u-1", minutes_ago=20, email=None):
    start = timezone.now() - timedelta(minutes=minutes_ago)
    tracker.post(
        "batch",
        abandoning_session(
            start, user_id=user_id, anonymous_id=f"anon-{user_id}", email=email or f"{user_id}@example.com"
        ),
    )


def claimed(tracker, count: int, now) -> list[Message]:
    """`count` abandoning contacts whose first emails are claimed for sending at `now`, in id order."""
    for n in range(count):
        abandon(tracker, user_id=f"u-{n}")
    detect_quiet_sessions(now=now)
    enrol_pending_triggers(now=now)
    return [Message.objects.get(pk=pk) for pk in sorted(claim_due_messages(now=now))]


def run_pipeline(now=None):
    now = now or timezone.now()
    detect_quiet_sessions(now=now)
    enrol_pending_triggers(now=now)
    sent = 0
    while ids := claim_due_messages(now=now):
        sent += send_claimed_messages(ids, now_fn=lambda: now).sent
    return sent


@pytest.mark.django_db
def test_an_abandoned_cart_gets_the_first_email_through_smtp(tracker, cart_sequence, smtp_sink):
    abandon(tracker)

    assert run_pipeline() == 1

    (email,) = smtp_sink.messages
    assert email["To"] == "u-1@example.com"
    # > 5 minutes in the session on an electronics product: the source document's variant wins
    assert email["Subject"] == "Ada, your electronics are ready—don’t let them slip away!"
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert email["List-Unsubscribe"].startswith("<http")
    assert {part.get_content_type() for part in email.walk()} >= {"text/plain", "text/html"}
    message = Message.objects.get(status="sent")
    assert message.links == ["https://shop.example.com/cart"]
    assert "/t/c/" in email.get_body(("plain",)).get_content()
    # the next step waits for the evening engagement window
    follow_up = Message.objects.get(status="scheduled")
    assert follow_up.step.position == 1
    assert follow_up.send_at > message.sent_at + timedelta(hours=2) - timedelta(seconds=1)


@pytest.mark.django_db
@pytest.mark.parametrize("server_takes_8bit", [True, False])
def test_the_email_goes_unencoded_in_short_lines_where_the_server_takes_8bit_and_as_base64_elsewhere(
    tracker, cart_sequence, smtp_sink, server_takes_8bit
):
    smtp_sink.eight_bit = server_takes_8bit
    abandon(tracker)

    assert run_pipeline() == 1

    (raw, mail_options), (email,) = smtp_sink.raw[0], smtp_sink.messages
    encodings = {part.get_content_type(): part["Content-Transfer-Encoding"] for part in email.walk()}
    lines = raw.split(b"\r\n")
    if server_takes_8bit:
        # The subject's dash is in the HTML's <title>: 8-bit, announced in the MAIL command.
        assert encodings["text/html"] == "8bit"
        assert "BODY=8BITMIME" in mail_options
        assert len(lines) < 60
    else:
        assert encodings == {"multipart/alternative": None, "text/plain": "base64", "text/html": "base64"}
        assert raw.isascii()
        assert "BODY=8BITMIME" not in mail_options
    assert max(map(len, lines)) <= 998
    html = email.get_body(("html",)).get_content()
    assert "Ada, your electronics are ready—don’t let them slip away!" in html
    assert "/t/c/" in email.get_body(("plain",)).get_content()


@pytest.mark.django_db
def test_the_same_cart_never_enrols_twice_and_a_new_cart_does(tracker, cart_sequence, smtp_sink):
    abandon(tracker)
    run_pipeline()
    detect_quiet_sessions(now=timezone.now() + timedelta(minutes=1))
    enrol_pending_triggers(now=timezone.now())
    assert Enrolment.objects.count() == 1

    start = timezone.now() - timedelta(minutes=15)
    tracker.post(
        "track",
        {"userId": "u-1", "event": "Product Added", "properties": {"cart_id": "cart-88"}, "timestamp": iso(start)},
    )
    run_pipeline(timezone.now() + timedelta(minutes=1))

    assert sorted(Enrolment.objects.values_list("key", "status")) == [
        ("cart:cart-77", "exited"),
        ("cart:cart-88", "active"),
    ]


def abandon_again(tracker, *, minutes_ago: float) -> None:
    """The same shopper leaves the same cart (cart-77) once more, in a visit of its own."""
    start = timezone.now() - timedelta(minutes=minutes_ago)
    tracker.post(
        "track",
        {"userId": "u-1", "event": "Checkout Started", "properties": {"cart_id": "cart-77"}, "timestamp": iso(start)},
    )


@pytest.mark.django_db
@pytest.mark.parametrize(("reentry_after_days", "enrolments"), [(7, 1), (0, 2)])
def test_the_same_cart_left_again_in_a_later_visit_follows_the_re_entry_rules(
    tracker, cart_sequence, smtp_sink, reentry_after_days, enrolments
):
    cart_sequence.reentry_after_days = reentry_after_days
    cart_sequence.save()
    abandon(tracker, minutes_ago=120)
    run_pipeline(timezone.now() - timedelta(minutes=90))  # enrolled then

    abandon_again(tracker, minutes_ago=10)  # over the 30-minute gap: a new visit
    run_pipeline()

    assert TriggerOccurrence.objects.filter(type="cart_abandoned").count() == 2  # recorded either way
    assert Enrolment.objects.count() == enrolments
    assert Enrolment.objects.filter(status="active").count() == 1  # a re-entry supersedes the earlier one


@pytest.mark.django_db
def test_an_order_for_the_cart_exits_its_re_entered_enrolment(tracker, cart_sequence, smtp_sink):
    cart_sequence.reentry_after_days = 0
    cart_sequence.save()
    abandon(tracker, minutes_ago=120)
    run_pipeline(timezone.now() - timedelta(minutes=90))  # enrolled then
    abandon_again(tracker, minutes_ago=10)
    run_pipeline()

    tracker.post("track", {"userId": "u-1", "event": "Order Completed", "properties": {"cart_id": "cart-77"}})

    assert not Enrolment.objects.filter(status="active").exists()


@pytest.mark.django_db
def test_an_order_exits_at_once_and_cancels_the_waiting_emails(tracker, cart_sequence, smtp_sink):
    abandon(tracker)
    run_pipeline()
    assert Message.objects.filter(status="scheduled").count() == 1

    tracker.post(
        "track", {"userId": "u-1", "event": "Order Completed", "properties": {"cart_id": "cart-77", "revenue": 249}}
    )

    enrolment = Enrolment.objects.get()
    assert (enrolment.status, enrolment.exit_reason) == ("exited", "order completed")
    assert Message.objects.filter(status="cancelled").count() == 1
    sent = Message.objects.get(status="sent")
    conversion = sent.email_events.get(kind="conversion")
    assert conversion.revenue == 249


@pytest.mark.django_db
def test_unsubscribe_stops_all_further_sends(tracker, cart_sequence, smtp_sink, client):
    abandon(tracker)
    run_pipeline()
    sent = Message.objects.get(status="sent")
    unsubscribe_url = smtp_sink.messages[0]["List-Unsubscribe"].strip("<>")
    path = unsubscribe_url.split("://", 1)[1].split("/", 1)[1]

    response = client.post("/" + path, {"List-Unsubscribe": "One-Click"})

    assert response.status_code == 200
    assert Contact.objects.get().subscription_status == "unsubscribed"
    assert not Message.objects.filter(status="scheduled").exists()
    assert sent.email_events.filter(kind="unsubscribe").exists()
    assert run_pipeline(timezone.now() + timedelta(days=3)) == 0


@pytest.mark.django_db
def test_a_temporary_smtp_failure_is_retried_then_delivered(tracker, cart_sequence, smtp_sink):
    abandon(tracker)
    smtp_sink.fail_next = ["451 4.3.0 try again later"]

    assert run_pipeline() == 0
    message = Message.objects.get(step__position=0)
    assert (message.status, message.attempts) == ("scheduled", 1)
    assert "451" in message.decisions[-1]["reason"]

    assert run_pipeline(timezone.now() + timedelta(minutes=1)) == 1
    assert len(smtp_sink.messages) == 1


@pytest.mark.django_db
def test_a_permanent_smtp_failure_is_final(tracker, cart_sequence, smtp_sink):
    abandon(tracker)
    smtp_sink.fail_next = ["550 5.1.1 no such mailbox"]

    run_pipeline()

    message = Message.objects.get(step__position=0)
    assert message.status == "failed"
    assert message.reason.startswith("550")
    assert run_pipeline(timezone.now() + timedelta(hours=1)) == 0


@pytest.mark.django_db
@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "one-command-at-a-time"])
@pytest.mark.parametrize(
    ("command", "reply", "status", "reason"),
    [
        ("RCPT", "550 5.1.1 no such mailbox", "failed", "550"),
        ("MAIL", "553 5.7.1 sender not allowed", "failed", "553"),
        ("RCPT", "452 4.2.2 mailbox full", "scheduled", "452"),
    ],
)
def test_a_refused_sender_or_recipient_fails_or_retries_by_the_reply_and_the_next_email_still_goes(
    tracker, cart_sequence, smtp_sink, command, reply, status, reason, pipelining
):
    abandon(tracker)
    smtp_sink.refuse[command] = reply
    smtp_sink.pipelining = pipelining

    run_pipeline()

    message = Message.objects.get(step__position=0)
    assert message.status == status
    assert reason in message.reason
    assert smtp_sink.messages == []
    smtp_sink.refuse.clear()
    assert run_pipeline(timezone.now() + timedelta(hours=1)) == (1 if status == "scheduled" else 0)


@pytest.mark.django_db
@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "one-command-at-a-time"])
def test_a_server_closing_on_one_recipient_delays_that_email_and_the_next_goes_on_a_new_connection(
    tracker, cart_sequence, smtp_sink, pipelining
):
    smtp_sink.pipelining = pipelining
    abandon(tracker, user_id="u-1")
    abandon(tracker, user_id="u-2")
    smtp_sink.refuse, smtp_sink.refuse_once = {"RCPT": "421 4.3.2 closing, try later"}, True

    assert run_pipeline() == 1

    first, second = (Message.objects.get(contact__user_id=u, step__position=0) for u in ("u-1", "u-2"))
    assert {first.status, second.status} == {"scheduled", "sent"}
    retried, sent = (first, second) if first.status == "scheduled" else (second, first)
    assert "421" in retried.reason
    assert [email["To"] for email in smtp_sink.messages] == [sent.contact.email]


@pytest.mark.django_db
def test_the_holdout_is_withheld_never_sent_but_counted(tracker, cart_sequence, smtp_sink):
    cart_sequence.holdout_percent = 100
    cart_sequence.save()
    abandon(tracker)

    assert run_pipeline() == 0
    assert run_pipeline(timezone.now() + timedelta(days=3)) == 0

    assert list(Message.objects.order_by("send_at").values_list("status", flat=True)) == ["withheld"] * 3
    assert smtp_sink.messages == []


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_over_due_messages_send_each_exactly_once(tracker, cart_sequence, smtp_sink):
    for n in range(30):
        abandon(tracker, user_id=f"u-{n}")
    now = timezone.now()
    detect_quiet_sessions(now=now)
    enrol_pending_triggers(now=now)
    assert Message.objects.filter(status="scheduled", send_at__lte=now).count() == 30

    def worker():
        try:
            while ids := claim_due_messages(now=now, limit=7):
                send_claimed_messages(ids, now_fn=lambda: now)
        finally:
            connection.close()

    threads = [Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    recipients = [email["To"] for email in smtp_sink.messages]
    assert len(recipients) == 30
    assert len(set(recipients)) == 30
    assert Message.objects.filter(status="sent").count() == 30


@pytest.mark.django_db
def test_a_worker_that_dies_mid_batch_loses_nothing_and_resends_nothing(tracker, cart_sequence, smtp_sink):
    now = timezone.now()
    ids = [message.pk for message in claimed(tracker, 3, now)]
    # The worker handed the first message to the mail server, then died before recording the outcome.
    Message.objects.filter(pk=ids[0]).update(smtp_started_at=now)

    put_back, unknown = recover_stuck_messages(now=now + timedelta(minutes=11))

    assert (put_back, unknown) == (2, 1)
    assert Message.objects.get(pk=ids[0]).status == "failed"
    assert "outcome unknown" in Message.objects.get(pk=ids[0]).reason
    assert run_pipeline(now + timedelta(minutes=12)) == 2


@pytest.mark.django_db
def test_a_sent_mark_rides_with_the_next_start_and_one_moved_meanwhile_is_left_alone(tracker, cart_sequence, smtp_sink):
    from sequences.send_marks import SendMarks, StartedMark

    now = timezone.now()
    first, second, third = claimed(tracker, 3, now)
    stored = []
    marks = SendMarks(lambda message, sent_at: stored.append(message.pk))
    mark = StartedMark(now, "Hi", "Default", None, [], [], "<m@x>", 9, 0)

    assert marks.started(first.pk, mark)
    marks.sent(first, now)
    assert Message.objects.get(pk=first.pk).status == "sending"  # waits for the next start
    assert marks.started(second.pk, mark)
    assert Message.objects.get(pk=first.pk).status == "sent"
    marks.sent(second, now)
    Message.objects.filter(pk=second.pk).update(status="failed")  # e.g. recovery, meanwhile
    assert marks.started(third.pk, mark)
    marks.sent(third, now)
    marks.flush()

    assert stored == [first.pk, third.pk]
    assert [Message.objects.get(pk=m.pk).status for m in (first, second, third)] == ["sent", "failed", "sent"]
    assert Message.objects.get(pk=third.pk).attempts == 1


@pytest.mark.django_db
def test_the_send_marks_are_prepared_once_per_connection_and_reused(tracker, cart_sequence, smtp_sink):
    for n in range(3):
        abandon(tracker, user_id=f"u-{n}")

    assert run_pipeline() == 3

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans + custom_plans FROM pg_prepared_statements"
            " WHERE statement LIKE 'WITH sent AS (UPDATE sequences_message%%'"
        )
        executions = [row[0] for row in cursor.fetchall()]
    # one statement on this connection, run for the second and third emails (each with the previous sent mark)
    assert executions == [2]


@pytest.mark.django_db
def test_a_sent_mark_survives_the_next_start_failing(tracker, cart_sequence, smtp_sink):
    from django.db import IntegrityError

    from sequences.send_marks import SendMarks, StartedMark

    now = timezone.now()
    first, second = claimed(tracker, 2, now)
    stored = []
    marks = SendMarks(lambda message, sent_at: stored.append(message.pk))
    mark = StartedMark(now, "Hi", "Default", None, [], [], "<m@x>", 9, 0)
    assert marks.started(first.pk, mark)
    marks.sent(first, now)

    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # as outside this test's transaction: checked at once
    # e.g. its copy variant was deleted while the chunk was being sent
    with pytest.raises(IntegrityError), transaction.atomic():
        marks.started(second.pk, StartedMark(now, "Hi", "Gone", 10**9, [], [], "<m@x>", 9, 0))
    marks.flush()

    assert stored == [first.pk]
    assert Message.objects.get(pk=first.pk).status == "sent"


@pytest.mark.django_db
def test_the_frequency_cap_holds_a_fourth_email_in_48_hours(tracker, cart_sequence, smtp_sink):
    account = Account.current()
    account.cap_per_48_hours = 1
    account.save()
    abandon(tracker)
    run_pipeline()
    second = Message.objects.get(status="scheduled")

    run_pipeline(second.send_at + timedelta(seconds=1))

    second.refresh_from_db()
    assert second.status == "scheduled"
    assert second.reason.startswith("frequency cap: 1 emails in the last 48 h")


@pytest.mark.django_db
def test_removing_a_step_keeps_sent_history_and_moves_waiting_enrolments_on(tracker, cart_sequence, smtp_sink):
    from sequences.enrolment import remove_step

    abandon(tracker)
    run_pipeline()
    first, second = Message.objects.order_by("pk")
    assert (first.status, second.status) == ("sent", "scheduled")

    remove_step(first.step, now=timezone.now())
    remove_step(second.step, now=timezone.now())

    assert Message.objects.get(pk=first.pk).status == "sent"  # history stays
    assert Message.objects.get(pk=second.pk).status == "cancelled"
    third = Message.objects.get(status="scheduled")
    assert third.step.name == "Scarcity"
    assert list(cart_sequence.steps.values_list("name", "position")) == [("Scarcity", 0)]


@pytest.mark.django_db
def test_a_cart_abandoned_days_ago_starts_no_emails_now(tracker, cart_sequence, smtp_sink):
    abandon(tracker, minutes_ago=3 * 24 * 60)  # e.g. history sent through /v1/import

    assert run_pipeline() == 0
    assert not Enrolment.objects.exists()


@pytest.mark.django_db
def test_pausing_holds_scheduled_emails_and_archiving_cancels_them(tracker, cart_sequence, smtp_sink):
    abandon(tracker)
    detect_quiet_sessions(now=timezone.now())
    enrol_pending_triggers(now=timezone.now())  # enrolled while active
    cart_sequence.status = "paused"
    cart_sequence.save()

    assert run_pipeline() == 0
    held = Message.objects.get()
    assert (held.status, held.reason) == ("scheduled", "the sequence is paused")

    cart_sequence.status = "active"
    cart_sequence.save()
    assert run_pipeline(held.send_at + timedelta(seconds=1)) == 1

    cart_sequence.status = "archived"
    cart_sequence.save()
    follow_up = Message.objects.get(status="scheduled")
    run_pipeline(follow_up.send_at + timedelta(seconds=1))
    follow_up.refresh_from_db()
    assert (follow_up.status, follow_up.reason) == ("cancelled", "the sequence was archived")
