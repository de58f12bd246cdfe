"""The simulator drives known effects through the real app; the analytics must find them, and only them.

Seeds: every test uses seed 1, the first one, fixed before any result was looked at. With the null config,
seeds 1-20 were also run once by hand (docs/simulator.md lists the outcome): the share of significant results
is what a 5% test should give, so seed 1 passing is not a picked seed.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail

from analytics.lift_report import ReportFilter, lift_report
from analytics.management.commands.simulate import run_counts
from analytics.rollups import rebuild_rollups
from analytics.simulation_config import ConversionTruth, SimulationConfig
from analytics.simulation_driver import WRITE_KEY_NAME, SimulationDriver
from analytics.simulation_measures import measure_conversion, measure_opens
from sequences.models import Contact, EmailEvent, Event, Message

# A fixed end: the run does not depend on the day the tests run (local hours, DST, weekdays).
END = datetime(2026, 3, 2, tzinfo=UTC)
SEGMENT = "High-Intent Abandoners"
# Everybody leaves a long electronics cart behind and gives an email address, so the cart segment fills up fast;
# half of it is the control group. Short windows let a 4-day run close most of them.
SHOPPERS = {
    "personas": {"shopper": 1.0},
    "high_intent_share": 1.0,
    "identify_share": 1.0,
    "lapse_share": 0.0,
    "sessions_per_day": 0.1,
    "holdout_percent": 50,
    "conversion_window_hours": 24,
    "conversion_delay_hours": 6,
    "open_horizon_hours": 24,
    "open_delay_hours": 2,
    "tick_minutes": 15,
}
# Effects large enough to be found with ~150 people: conversion 20% -> 50%, opens x2 in the window arm.
STRONG = SimulationConfig(
    conversion={SEGMENT: ConversionTruth(0.20, 0.50)}, open_rate=0.30, window_open_multiplier=2.0, **SHOPPERS
)
NULL = SimulationConfig(
    conversion={SEGMENT: ConversionTruth(0.30, 0.30)}, open_rate=0.30, window_open_multiplier=1.0, **SHOPPERS
)


def simulate(config, *, contacts=160, days=4, seed=1):
    return SimulationDriver(config, contacts=contacts, days=days, seed=seed, end=END).execute()


def cart_conversion(run):
    (check,) = [c for c in measure_conversion(run) if c.label == SEGMENT]
    return check


def contains(result, value) -> bool:
    return result.ci_low <= value and (result.ci_high is None or value <= result.ci_high)


# reset_sequences: the holdout and the experiment arms hash database ids; fixed ids make a run repeatable
# whichever tests ran before it.
@pytest.mark.django_db(transaction=True, reset_sequences=True)
def test_a_fixed_seed_recovers_the_configured_lifts():
    run = simulate(STRONG)

    conversion = cart_conversion(run)
    # Every treated enrolment got its first email, so the lift for these enrolments is the configured one.
    assert conversion.expected == pytest.approx(conversion.configured, abs=0.01)
    assert min(conversion.result.treated.trials, conversion.result.control.trials) >= 40
    assert contains(conversion.result, conversion.configured), conversion.result.note
    assert conversion.result.p_value < 0.05  # and found, not merely not excluded
    opens = measure_opens(run)
    assert min(opens.result.treated.trials, opens.result.control.trials) >= 20
    assert contains(opens.result, opens.configured), opens.result.note
    assert opens.result.lift > 0
    # And what the dashboard and the lift API report, from the rollups, contains the truth too.
    rebuild_rollups()
    (reported,) = [row for row in lift_report("conversion", "segment", ReportFilter()) if row.group == SEGMENT]
    assert contains(reported.result, conversion.configured), reported.result.note
    (reported_opens,) = [row for row in lift_report("open", "segment", ReportFilter()) if row.group.startswith(SEGMENT)]
    assert contains(reported_opens.result, opens.configured), reported_opens.result.note


@pytest.mark.django_db(transaction=True, reset_sequences=True)
def test_no_true_effect_reports_no_significant_lift():
    run = simulate(NULL)

    conversion, opens = cart_conversion(run), measure_opens(run)
    assert conversion.expected == 0
    assert opens.expected == 0
    assert min(conversion.result.treated.trials, conversion.result.control.trials) >= 40
    assert conversion.result.p_value >= 0.05, conversion.result.note
    assert opens.result.p_value >= 0.05, opens.result.note
    assert contains(conversion.result, 0)
    assert contains(opens.result, 0)


@pytest.mark.django_db(transaction=True, reset_sequences=True)
def test_the_run_goes_through_the_real_path():
    run = simulate(SimulationConfig(tick_minutes=15), contacts=60, days=3)

    counts = run_counts(run)
    sent = Message.objects.filter(status="sent", contact__user_id__startswith=run.prefix)
    # The real send path: every sent message is an email in the (test) backend, with its tracking pixel.
    assert sent.count() == len(mail.outbox) > 0
    assert {m.to[0] for m in mail.outbox} <= set(sent.values_list("contact__email", flat=True))
    assert all("/t/o/" in m.alternatives[0][0] for m in mail.outbox)
    # Scored on ingest, triggers found by the beat functions, enrolled with a control group, the arm recorded.
    assert counts["scored"] == counts["identified"] > 0
    assert counts["triggers cart_abandoned"] > 0
    assert counts["triggers content_downloaded"] > 0
    assert counts["enrolments treated"] > 0
    assert counts["enrolments control"] > 0
    assert sent.filter(experiment_arm__isnull=False).exists()
    # Opens and clicks came back through the signed links at simulated instants, not at the real time.
    events = EmailEvent.objects.filter(message__in=sent)
    opened = events.filter(kind="open")
    assert opened.filter(machine_open=False).exists()
    assert opened.filter(machine_open=True).exists()
    assert events.filter(kind="click").exists()
    stamps = list(events.values_list("occurred_at", flat=True))
    assert run.start < min(stamps)
    assert max(stamps) <= run.end
    assert max(stamps) - min(stamps) > timedelta(days=1)
    for event in opened.filter(machine_open=False).select_related("message"):
        assert event.occurred_at >= event.message.sent_at + timedelta(minutes=3)
    # Orders came in through /v1/batch with the simulator's write key, at their simulated times.
    orders = Event.objects.filter(name="Order Completed", contact__user_id__startswith=run.prefix)
    assert orders.exists()
    assert set(orders.values_list("source__name", flat=True)) == {WRITE_KEY_NAME}
    assert all(run.start < at <= run.end for at in orders.values_list("occurred_at", flat=True))
    assert Contact.objects.filter(user_id__startswith=run.prefix).exclude(time_zone="").exists()
