"""Send guards (pure): whether a due message may go now, must wait, or must not go at all, and why.

Checked in this order, the first that bites decides:
1. suppression: unsubscribed, bounced, complained, or no email address -> skip
2. frequency cap per funnel stage (default 3 emails per contact per stage) -> skip
3. frequency cap across all sequences (default 3 in any rolling 48 hours) -> hold until a slot frees
4. engagement-decay gate: no open or click since the enrolment's first email -> wait 72 h after it, and use
   the step's re-engagement copy when it has one
5. activity gate: active on the site in the last 5 minutes -> wait for 5 minutes of inactivity
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

SEND, HOLD, SKIP = "send", "hold", "skip"
SUPPRESSED_STATUSES = {"unsubscribed", "bounced", "complained"}


@dataclass(frozen=True, slots=True)
class GuardRules:
    cap_per_funnel_stage: int = 3
    cap_per_window: int = 3
    cap_window: timedelta = timedelta(hours=48)
    decay_wait: timedelta = timedelta(hours=72)
    activity_quiet: timedelta = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class GuardFacts:
    now: datetime
    subscription_status: str
    has_email: bool
    sent_in_funnel_stage: int  # emails this contact already received in the step's funnel stage
    recent_sends: Sequence[datetime]  # this contact's sends, all sequences, newest last
    is_first_step: bool
    enrolment_first_sent_at: datetime | None  # when this enrolment's first email went out
    engaged_since_first: bool  # an open or click since that first email
    last_activity_at: datetime | None  # last real interaction on the site


@dataclass(frozen=True, slots=True)
class GuardDecision:
    action: str  # send, hold or skip
    reason: str
    hold_until: datetime | None = None
    use_reengagement_copy: bool = False


def evaluate_guards(facts: GuardFacts, rules: GuardRules) -> GuardDecision:
    now = facts.now
    if facts.subscription_status in SUPPRESSED_STATUSES:
        return GuardDecision(SKIP, f"suppressed: contact is {facts.subscription_status}")
    if not facts.has_email:
        return GuardDecision(SKIP, "suppressed: no email address")
    if facts.sent_in_funnel_stage >= rules.cap_per_funnel_stage:
        return GuardDecision(
            SKIP,
            f"frequency cap: already {facts.sent_in_funnel_stage} emails in this funnel stage "
            f"(max {rules.cap_per_funnel_stage})",
        )
    in_window = sorted(sent for sent in facts.recent_sends if now - rules.cap_window < sent <= now)
    if len(in_window) >= rules.cap_per_window:
        # The slot frees when the oldest send that still counts leaves the window.
        free_at = in_window[len(in_window) - rules.cap_per_window] + rules.cap_window
        hours = int(rules.cap_window.total_seconds() // 3600)
        return GuardDecision(
            HOLD, f"frequency cap: {len(in_window)} emails in the last {hours} h (max {rules.cap_per_window})", free_at
        )
    reengage = False
    if not facts.is_first_step and facts.enrolment_first_sent_at is not None and not facts.engaged_since_first:
        reengage = True
        wait_until = facts.enrolment_first_sent_at + rules.decay_wait
        if now < wait_until:
            hours = int(rules.decay_wait.total_seconds() // 3600)
            return GuardDecision(
                HOLD,
                f"engagement decay: no open or click since the first email; waiting {hours} h after it",
                wait_until,
                True,
            )
    if facts.last_activity_at is not None and now - facts.last_activity_at < rules.activity_quiet:
        minutes = int(rules.activity_quiet.total_seconds() // 60)
        return GuardDecision(
            HOLD,
            f"activity gate: active on the site {int((now - facts.last_activity_at).total_seconds())} s ago; "
            f"waiting for {minutes} min of inactivity",
            facts.last_activity_at + rules.activity_quiet,
            reengage,
        )
    reason = "all guards passed" + ("; re-engagement copy (no open or click since the first email)" if reengage else "")
    return GuardDecision(SEND, reason, None, reengage)
