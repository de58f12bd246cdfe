"""Server-side sessionisation: a new session after the inactivity gap, the site's own session id wins."""

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from sequences.tracking.sessions import SessionState, assign_sessions

T0 = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
GAP = timedelta(minutes=30)


def sessions(times, state=None, payload_ids=None):
    events = [(T0 + timedelta(minutes=m), (payload_ids or {}).get(i)) for i, m in enumerate(times)]
    return assign_sessions(contact_key=7, state=state, events=events, gap=GAP)


def test_events_within_the_gap_share_a_session():
    ids, state = sessions([0, 10, 35])

    assert ids[0] == ids[1] == ids[2]
    assert state.last_event_at == T0 + timedelta(minutes=35)


def test_a_pause_longer_than_the_gap_starts_a_new_session():
    ids, _ = sessions([0, 10, 41])

    assert ids[0] == ids[1] != ids[2]


def test_the_previous_batch_session_continues_across_requests():
    first, state = sessions([0])
    second, _ = sessions([20], state=state)

    assert first == second


def test_out_of_order_events_are_sessionised_in_time_order():
    ids, _ = sessions([50, 0, 25])

    assert ids[0] == ids[1] == ids[2]


def test_a_session_id_sent_by_the_site_wins():
    ids, state = sessions([0, 5], payload_ids={1: "site-session-9"})

    assert ids[1] == "site-session-9"
    assert state.session_id == "site-session-9"


def test_a_late_event_far_older_than_the_session_does_not_join_it():
    state = SessionState("current", T0 + timedelta(hours=5))
    ids, new_state = sessions([0], state=state)

    assert ids[0] != "current"
    assert new_state == state


@given(st.lists(st.integers(min_value=0, max_value=600), min_size=1, max_size=30))
def test_consecutive_events_share_a_session_exactly_when_closer_than_the_gap(minutes):
    ids, _ = sessions(minutes)
    ordered = sorted(zip(minutes, ids, strict=True))
    for (m1, id1), (m2, id2) in itertools.pairwise(ordered):
        assert (id1 == id2) == (m2 - m1 <= 30)
