"""Send guards: suppression, frequency caps, the engagement-decay gate and the activity gate."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sequences.guards import HOLD, SEND, SKIP, GuardFacts, GuardRules, evaluate_guards

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
RULES = GuardRules()
BASE = GuardFacts(
    now=NOW,
    subscription_status="subscribed",
    has_email=True,
    sent_in_funnel_stage=0,
    recent_sends=(),
    is_first_step=True,
    enrolment_first_sent_at=None,
    engaged_since_first=False,
    last_activity_at=NOW - timedelta(hours=1),
)


def decide(**changes):
    return evaluate_guards(replace(BASE, **changes), RULES)


def test_a_clean_first_email_goes():
    assert decide().action == SEND


def test_unsubscribed_bounced_complained_and_no_email_are_skipped():
    for status in ("unsubscribed", "bounced", "complained"):
        assert decide(subscription_status=status).action == SKIP
    assert decide(has_email=False).reason == "suppressed: no email address"


def test_three_emails_in_a_funnel_stage_is_the_cap():
    assert decide(sent_in_funnel_stage=2).action == SEND
    decision = decide(sent_in_funnel_stage=3)

    assert decision.action == SKIP
    assert "frequency cap" in decision.reason


def test_three_emails_in_48_hours_hold_the_fourth_until_a_slot_frees():
    sends = [NOW - timedelta(hours=47), NOW - timedelta(hours=10), NOW - timedelta(hours=1)]

    decision = decide(recent_sends=sends)

    assert decision.action == HOLD
    assert decision.hold_until == NOW + timedelta(hours=1)
    assert decide(recent_sends=sends[1:]).action == SEND


def test_no_open_after_the_first_email_waits_72_hours_and_uses_re_engagement_copy():
    first = NOW - timedelta(hours=5)

    waiting = decide(is_first_step=False, enrolment_first_sent_at=first)
    after = decide(is_first_step=False, enrolment_first_sent_at=first, now=first + timedelta(hours=72))

    assert (waiting.action, waiting.hold_until) == (HOLD, first + timedelta(hours=72))
    assert after.action == SEND
    assert after.use_reengagement_copy is True


def test_an_engaged_contact_is_not_gated():
    decision = decide(is_first_step=False, enrolment_first_sent_at=NOW - timedelta(hours=5), engaged_since_first=True)

    assert (decision.action, decision.use_reengagement_copy) == (SEND, False)


def test_someone_active_on_the_site_is_not_emailed_until_5_quiet_minutes():
    decision = decide(last_activity_at=NOW - timedelta(minutes=2))

    assert decision.action == HOLD
    assert decision.hold_until == NOW + timedelta(minutes=3)
