"""Server-side sessionisation (pure): which session each of a contact's events belongs to.

A site may send its own session id (it wins). Otherwise an event more than `gap` after the contact's previous
event starts a new session, as Google Analytics and Segment's Amplitude destination do (default 30 minutes).
Session ids made here are derived from the contact and the session's first event, so re-running is stable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class SessionState:
    session_id: str
    last_event_at: datetime


def new_session_id(contact_key: object, started_at: datetime) -> str:
    return f"s{contact_key}-{int(started_at.timestamp() * 1000)}"


def assign_sessions(
    *,
    contact_key: object,
    state: SessionState | None,
    events: list[tuple[datetime, str | None]],
    gap: timedelta,
) -> tuple[list[str], SessionState | None]:
    """Session ids for `events` (time, session id from the payload), in the order given, and the new state.

    Events are considered in time order. A late event (older than the state's last event) joins the current
    session when it is within `gap` of it, otherwise it gets a session of its own and leaves the state alone.
    """
    order = sorted(range(len(events)), key=lambda i: events[i][0])
    assigned: list[str] = [""] * len(events)
    for i in order:
        occurred_at, from_payload = events[i]
        if from_payload:
            assigned[i] = from_payload
            if state is None or occurred_at >= state.last_event_at:
                state = SessionState(from_payload, occurred_at)
            continue
        if state is None:
            state = SessionState(new_session_id(contact_key, occurred_at), occurred_at)
        elif occurred_at >= state.last_event_at:
            if occurred_at - state.last_event_at > gap:
                state = SessionState(new_session_id(contact_key, occurred_at), occurred_at)
            else:
                state = SessionState(state.session_id, occurred_at)
        elif state.last_event_at - occurred_at > gap:
            assigned[i] = new_session_id(contact_key, occurred_at)
            continue
        assigned[i] = state.session_id
    return assigned, state
