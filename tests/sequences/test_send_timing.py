"""Send-time computation: the document's case study, quiet hours, engagement windows and DST."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from sequences.send_timing import LocalHours, SendWindow, compute_send_time

NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
QUIET = LocalHours(time(21, 0), time(8, 0))
AT_ONCE = SendWindow(timedelta(0), timedelta(0))
EVENING = SendWindow(timedelta(hours=2), timedelta(hours=6), LocalHours(time(19, 0), time(21, 0)))
NEXT_NOON = SendWindow(timedelta(hours=12), timedelta(hours=24), LocalHours(time(12, 0), time(14, 0)))


def local(moment, zone=NEW_YORK):
    return moment.astimezone(zone).replace(tzinfo=None)


def test_the_case_study_schedule():
    # A high-intent abandonment at 15:15 local: first email at once, the second in the 19:00 engagement window,
    # the third at noon the next day.
    abandoned = datetime(2026, 6, 1, 15, 15, tzinfo=NEW_YORK)

    first = compute_send_time(anchor=abandoned, window=AT_ONCE, zone=NEW_YORK, quiet_hours=QUIET, now=abandoned)
    second = compute_send_time(
        anchor=first.send_at, window=EVENING, zone=NEW_YORK, quiet_hours=QUIET, now=first.send_at
    )
    third = compute_send_time(
        anchor=second.send_at, window=NEXT_NOON, zone=NEW_YORK, quiet_hours=QUIET, now=second.send_at
    )

    assert local(first.send_at) == datetime(2026, 6, 1, 15, 15)
    assert local(second.send_at) == datetime(2026, 6, 1, 19, 0)
    assert local(third.send_at) == datetime(2026, 6, 2, 12, 0)
    assert "in the engagement window 19:00-21:00 local" in second.reasons


def test_a_3am_abandonment_waits_for_morning():
    abandoned = datetime(2026, 6, 1, 3, 0, tzinfo=NEW_YORK)

    first = compute_send_time(anchor=abandoned, window=AT_ONCE, zone=NEW_YORK, quiet_hours=QUIET, now=abandoned)

    assert local(first.send_at) == datetime(2026, 6, 1, 8, 0)
    assert any(reason.startswith("held for quiet hours (21:00-08:00 local)") for reason in first.reasons)


def test_a_window_inside_the_day_is_kept():
    trigger = datetime(2026, 6, 1, 9, 0, tzinfo=LONDON)
    window = SendWindow(timedelta(hours=2), timedelta(hours=4))

    result = compute_send_time(anchor=trigger, window=window, zone=LONDON, quiet_hours=QUIET, now=trigger)

    assert local(result.send_at, LONDON) == datetime(2026, 6, 1, 11, 0)


def test_the_same_instant_lands_at_each_contacts_own_morning():
    abandoned = datetime(2026, 6, 1, 4, 0, tzinfo=ZoneInfo("UTC"))  # midnight in New York, 05:00 in London

    for zone in (NEW_YORK, LONDON):
        result = compute_send_time(anchor=abandoned, window=AT_ONCE, zone=zone, quiet_hours=QUIET, now=abandoned)
        assert local(result.send_at, zone) == datetime(2026, 6, 1, 8, 0)


@pytest.mark.parametrize(
    ("zone", "night"),
    [
        (LONDON, datetime(2026, 3, 29, 0, 30)),  # clocks jump 01:00 -> 02:00 this night
        (LONDON, datetime(2026, 10, 25, 0, 30)),  # clocks fall back 02:00 -> 01:00 this night
        (NEW_YORK, datetime(2026, 3, 8, 0, 30)),
        (NEW_YORK, datetime(2026, 11, 1, 0, 30)),
    ],
)
def test_quiet_hours_end_at_8_local_on_dst_nights(zone, night):
    abandoned = night.replace(tzinfo=zone)

    result = compute_send_time(anchor=abandoned, window=AT_ONCE, zone=zone, quiet_hours=QUIET, now=abandoned)

    assert local(result.send_at, zone) == night.replace(hour=8, minute=0)


def test_delays_are_real_elapsed_time_across_dst():
    # 2 h after 00:30 on the London spring-forward night is 03:30 local (01:00-02:00 does not exist).
    trigger = datetime(2026, 3, 29, 0, 30, tzinfo=LONDON)
    window = SendWindow(timedelta(hours=2), timedelta(hours=2))

    result = compute_send_time(anchor=trigger, window=window, zone=LONDON, quiet_hours=None, now=trigger)

    assert result.send_at - trigger == timedelta(hours=2)
    assert local(result.send_at, LONDON) == datetime(2026, 3, 29, 3, 30)


def test_a_window_already_open_sends_as_soon_as_allowed():
    trigger = datetime(2026, 6, 1, 9, 0, tzinfo=LONDON)
    now = trigger + timedelta(hours=5)

    result = compute_send_time(
        anchor=trigger,
        window=SendWindow(timedelta(hours=2), timedelta(hours=4)),
        zone=LONDON,
        quiet_hours=QUIET,
        now=now,
    )

    assert result.send_at == now
