"""Send-time computation (pure): when a sequence step should go out, or why it should not.

Input: the anchor (the trigger's time, or the previous step's send), the step's delay window, the contact's
time zone, quiet hours and optional preferred local hours. Output: a send time with the reasons that shaped
it. Wall-clock rules ("not before 08:00", "at 19:00") are applied in the contact's zone with zoneinfo, so a
DST change moves the instant, not the local hour; delays ("2-4 hours after") are real elapsed time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MAX_DAYS_AHEAD = 14  # a search for an allowed hour never looks further than this


@dataclass(frozen=True, slots=True)
class LocalHours:
    """A daily span of local time, [start, end). It may wrap midnight (21:00-08:00)."""

    start: time
    end: time

    def contains(self, moment: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True, slots=True)
class SendWindow:
    delay_min: timedelta
    delay_max: timedelta
    preferred_hours: LocalHours | None = None  # e.g. the evening engagement window 19:00-21:00

    def __post_init__(self):
        if self.delay_max < self.delay_min:
            raise ValueError("delay_max must not be before delay_min")


@dataclass(frozen=True, slots=True)
class SendTime:
    send_at: datetime
    reasons: tuple[str, ...]


def _local(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone)


def _at(day: date, moment: time, zone: ZoneInfo) -> datetime:
    """The instant `moment` on `day` in `zone`; a local time skipped by DST moves to just after the gap."""
    naive = datetime.combine(day, moment)
    candidate = naive.replace(tzinfo=zone)
    round_trip = candidate.astimezone(ZoneInfo("UTC")).astimezone(zone)
    if round_trip.replace(tzinfo=None) != naive:  # in a spring-forward gap
        return candidate.astimezone(ZoneInfo("UTC")).astimezone(zone)
    return candidate


def _next_allowed(start: datetime, zone: ZoneInfo, quiet: LocalHours | None, preferred: LocalHours | None) -> datetime:
    """The first instant at or after `start` that is inside `preferred` (if any) and outside `quiet`."""
    moment = _local(start, zone)

    def allowed(local: datetime) -> bool:
        t = local.timetz().replace(tzinfo=None)
        if quiet is not None and quiet.contains(t):
            return False
        return preferred is None or preferred.contains(t)

    if allowed(moment):
        return moment
    # Candidates are the local boundaries where "allowed" can begin: the end of quiet hours and the start of
    # the preferred hours, on this day and the following ones.
    boundaries = [h for h in (quiet.end if quiet else None, preferred.start if preferred else None) if h is not None]
    for offset in range(MAX_DAYS_AHEAD + 1):
        day = moment.date() + timedelta(days=offset)
        for boundary in sorted(boundaries):
            candidate = _at(day, boundary, zone)
            if candidate >= moment and allowed(candidate):
                return candidate
    raise ValueError(f"no allowed send time within {MAX_DAYS_AHEAD} days (quiet {quiet}, preferred {preferred})")


def compute_send_time(
    *,
    anchor: datetime,
    window: SendWindow,
    zone: ZoneInfo,
    quiet_hours: LocalHours | None,
    now: datetime,
) -> SendTime:
    """The send time for a step: inside the delay window when possible, never in quiet hours.

    Quiet hours win over the window's end: a 03:00 abandonment with a 2-4 h window waits for morning rather
    than waking someone at 05:00. Preferred hours are kept if they can be met before the window closes
    (plus a day of slack), otherwise the step goes at the first time outside quiet hours.
    """
    reasons: list[str] = []
    # Arithmetic in UTC: Python adds timedeltas to zoned datetimes in wall-clock time, which DST would skew.
    anchor, now = anchor.astimezone(UTC), now.astimezone(UTC)
    earliest = anchor + window.delay_min
    latest = anchor + window.delay_max
    start = max(earliest, now)
    if now > earliest and window.delay_max > timedelta(0):
        reasons.append("the window had already opened: as soon as allowed")
    if window.delay_min == window.delay_max == timedelta(0):
        reasons.append("sent at once after the trigger")
    else:
        reasons.append(
            f"{_span(window.delay_min)}-{_span(window.delay_max)} after {anchor.astimezone(zone):%a %H:%M %Z}"
        )
    send_at = _next_allowed(start, zone, quiet_hours, window.preferred_hours)
    if window.preferred_hours is not None:
        if send_at <= latest + timedelta(days=1):
            reasons.append(f"in the engagement window {window.preferred_hours} local")
        else:
            send_at = _next_allowed(start, zone, quiet_hours, None)
            reasons.append(f"the engagement window {window.preferred_hours} could not be met in time")
    start_local = _local(start, zone).timetz().replace(tzinfo=None)
    if send_at > _local(start, zone) and quiet_hours is not None and quiet_hours.contains(start_local):
        reasons.append(f"held for quiet hours ({quiet_hours} local) until {send_at:%a %H:%M %Z}")
    late = send_at > latest + timedelta(minutes=1) and window.delay_max > timedelta(0)
    if late and window.preferred_hours is None and not any("quiet" in r for r in reasons):
        reasons.append("after the window's end")
    return SendTime(send_at=send_at.astimezone(ZoneInfo("UTC")), reasons=tuple(reasons))


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 86400 == 0 and seconds:
        return f"{seconds // 86400} d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min"
