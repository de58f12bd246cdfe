"""Experiments: stable, weighted arms; a timing arm moves the send; a copy arm decides the variant; messages
record what analytics needs (arm, local hour, recent sends)."""

from collections import Counter
from datetime import time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from sequences.enrolment import contact_zone, enrol_pending_triggers
from sequences.experiment_arms import ArmRule, arm_window, assign_arm
from sequences.models import Account, Contact, Experiment, ExperimentArm, Message
from sequences.send_timing import LocalHours, SendWindow
from sequences.triggers import detect_quiet_sessions
from tests.sequences.test_delivery import abandon, cart_sequence, run_pipeline  # noqa: F401  (fixture)

HALVES = [ArmRule(1, 50), ArmRule(2, 50)]


@given(st.integers(1, 10**6), st.integers(1, 10**9))
def test_a_contact_always_lands_in_the_same_arm(experiment_id, contact_id):
    assert assign_arm(experiment_id, contact_id, HALVES) == assign_arm(
        experiment_id, contact_id, list(reversed(HALVES))
    )


def test_arms_get_contacts_in_proportion_to_their_weights():
    arms = [ArmRule(1, 20), ArmRule(2, 80)]

    counts = Counter(assign_arm(7, contact, arms).id for contact in range(20_000))

    assert 0.18 < counts[1] / 20_000 < 0.22


def test_different_experiments_split_contacts_independently():
    first = [assign_arm(1, contact, HALVES).id for contact in range(4000)]
    second = [assign_arm(2, contact, HALVES).id for contact in range(4000)]

    same = sum(a == b for a, b in zip(first, second, strict=True)) / 4000
    assert 0.45 < same < 0.55  # not the same split reused


def test_timing_arms_drop_or_set_the_preferred_hours():
    window = SendWindow(timedelta(hours=2), timedelta(hours=4), LocalHours(time(19), time(21)))

    assert arm_window(window, ArmRule(1, 50, "at_once")).preferred_hours is None
    evening = arm_window(window, ArmRule(2, 50, "window", time(9), time(11))).preferred_hours
    assert evening == LocalHours(time(9), time(11))
    assert arm_window(window, None) == window


@pytest.mark.django_db
def test_a_copy_experiment_decides_the_variant_and_the_message_records_its_arm(tracker, cart_sequence, smtp_sink):  # noqa: F811
    step = cart_sequence.steps.get(position=0)
    default = step.variants.get(is_default=True)
    experiment = Experiment.objects.create(step=step, name="Default copy for all", kind="copy")
    ExperimentArm.objects.create(
        experiment=experiment, name="Forced default", is_baseline=True, weight=1, copy_variant=default
    )

    abandon(tracker)
    run_pipeline()

    message = Message.objects.get(status="sent")
    assert message.experiment_arm.name == "Forced default"
    assert message.variant == "Default"  # the electronics rule would have won without the experiment
    assert "experiment" in message.copy_trace[0]["why"]
    assert smtp_sink.messages[0]["Subject"] == "Ada, your cart awaits—complete the purchase"


@pytest.mark.django_db
def test_a_sent_message_records_the_local_hour_and_recent_sends(tracker, cart_sequence, smtp_sink):  # noqa: F811
    abandon(tracker)
    Contact.objects.update(time_zone="Asia/Tokyo")

    run_pipeline()

    message = Message.objects.get(status="sent")
    assert message.local_hour == message.smtp_started_at.astimezone(ZoneInfo("Asia/Tokyo")).hour
    assert message.recent_sends == 0


@pytest.mark.django_db
def test_a_timing_arm_sends_at_once_where_the_other_waits_for_the_window(tracker, cart_sequence):  # noqa: F811
    step = cart_sequence.steps.get(position=0)
    experiment = Experiment.objects.create(step=step, name="Timing", kind="timing")
    ExperimentArm.objects.create(experiment=experiment, name="At once", is_baseline=True, weight=50, timing="at_once")
    ExperimentArm.objects.create(
        experiment=experiment,
        name="Morning",
        weight=50,
        timing="window",
        preferred_start=time(9),
        preferred_end=time(10),
    )
    cart_sequence.holdout_percent = 0
    cart_sequence.save()
    for n in range(12):
        abandon(tracker, user_id=f"t-{n}")
    detect_quiet_sessions(now=timezone.now())
    enrol_pending_triggers(now=timezone.now())

    account = Account.current()
    by_arm = {}
    for message in Message.objects.select_related("experiment_arm", "contact"):
        by_arm.setdefault(message.experiment_arm.name, []).append(message)
    assert set(by_arm) == {"At once", "Morning"}
    for message in by_arm["Morning"]:
        assert time(9) <= message.send_at.astimezone(contact_zone(message.contact, account)).time() <= time(10)
    for message in by_arm["At once"]:
        assert message.send_at < timezone.now() + timedelta(minutes=5)


@pytest.mark.django_db
def test_an_editor_starts_and_stops_a_send_time_experiment_in_the_page(client, bob, cart_sequence):  # noqa: F811
    step = cart_sequence.steps.get(position=0)
    client.force_login(bob)
    page = f"/sequences/{cart_sequence.pk}/steps/{step.pk}/experiments/"

    client.post(
        page, {"name": "Evening test", "kind": "timing", "split": "30", "window_start": "19:00", "window_end": "21:00"}
    )

    experiment = Experiment.objects.get(step=step)
    arms = {arm.name: arm for arm in experiment.arms.all()}
    assert arms["Send at once"].is_baseline
    assert arms["Send at once"].weight == 70
    assert arms["Engagement window 19:00–21:00"].preferred_start == time(19)
    again = client.post(
        page, {"name": "Second", "kind": "timing", "split": "50", "window_start": "8:00", "window_end": "9:00"}
    )
    assert again.status_code == 422
    assert "already has a running experiment" in again.content.decode()

    client.post(f"{page}{experiment.pk}/stop/")
    experiment.refresh_from_db()
    assert experiment.status == "stopped"


@pytest.mark.django_db
def test_a_copy_experiment_needs_two_different_variants_and_viewers_cannot_start_one(
    client,
    bob,
    charlie,
    cart_sequence,  # noqa: F811
):
    step = cart_sequence.steps.get(position=0)
    default = step.variants.get(is_default=True)
    page = f"/sequences/{cart_sequence.pk}/steps/{step.pk}/experiments/"
    client.force_login(charlie)
    assert client.get(page).status_code == 200
    assert client.post(page, {"name": "x", "kind": "copy", "split": "50"}).status_code == 403

    client.force_login(bob)
    response = client.post(
        page,
        {
            "name": "Same",
            "kind": "copy",
            "split": "50",
            "baseline_variant": default.pk,
            "challenger_variant": default.pk,
        },
    )

    assert response.status_code == 422
    assert "different variant" in response.content.decode()
    assert not Experiment.objects.exists()
