"""The lift API and the analytics page read the rollups: numbers equal the statistics core on the raw counts,
filters change them, every chart has a table and a CSV, and only logged-in users see any of it."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from analytics.lift_statistics import lift
from analytics.rollups import rebuild_rollups
from sequences.models import (
    Contact,
    EmailEvent,
    Enrolment,
    Experiment,
    ExperimentArm,
    Message,
    Segment,
    Sequence,
    Step,
)

pytestmark = pytest.mark.django_db


def enrol(sequence, step, segment, *, held_out, converted, arm=None, opened=False, n=0):
    contact = Contact.objects.create(email=f"{sequence.pk}-{segment.pk}-{held_out}-{n}-{arm and arm.pk}@example.com")
    enrolment = Enrolment.objects.create(
        contact=contact,
        sequence=sequence,
        sequence_version=1,
        segment=segment,
        key=f"k{contact.pk}",
        held_out=held_out,
        enrolled_at=timezone.now() - timedelta(days=1),
    )
    send_at = timezone.now() - timedelta(hours=20)
    message = Message.objects.create(
        enrolment=enrolment,
        step=step,
        contact=contact,
        status="withheld" if held_out else "sent",
        send_at=send_at,
        sent_at=None if held_out else send_at,
        variant="Default",
        experiment_arm=arm,
        local_hour=19,
        recent_sends=0,
    )
    if converted:
        EmailEvent.objects.create(message=message, kind="conversion", occurred_at=send_at + timedelta(hours=3))
    if opened:
        EmailEvent.objects.create(message=message, kind="open", occurred_at=send_at + timedelta(hours=1))


@pytest.fixture
def measured(db):
    """High-intent abandoners: 300 emailed (42 bought) vs 150 held out (15 bought); opens in a timing experiment:
    at once 30/150, engagement window 45/150. Lapsed users: a few, not enough data."""
    sequence = Sequence.objects.create(name="Cart", entry_trigger="cart_abandoned", status="active")
    step = Step.objects.create(sequence=sequence, position=0, name="Reminder")
    high = Segment.objects.create(name="High-Intent Abandoners", expected_lift="+38% open rate")
    lapsed = Segment.objects.create(name="Lapsed Users", expected_lift="+22% reactivation")
    experiment = Experiment.objects.create(step=step, name="Timing", kind="timing")
    at_once = ExperimentArm.objects.create(experiment=experiment, name="At once", is_baseline=True, timing="at_once")
    window = ExperimentArm.objects.create(experiment=experiment, name="Window", timing="window")
    for n in range(300):
        arm = at_once if n % 2 else window
        opened = (n // 2) < (30 if arm is at_once else 45)
        enrol(sequence, step, high, held_out=False, converted=n < 42, arm=arm, opened=opened, n=n)
    for n in range(150):
        enrol(sequence, step, high, held_out=True, converted=n < 15, n=n)
    for n in range(12):
        enrol(sequence, step, lapsed, held_out=n % 3 == 0, converted=n < 2, n=n)
    rebuild_rollups()
    return {"sequence": sequence, "high": high, "lapsed": lapsed}


def rows_by_group(response):
    assert response.status_code == 200, response.content
    return {row["group"]: row for row in response.json()}


def test_conversion_lift_by_segment_equals_the_statistics_on_the_raw_counts(api_for, charlie, measured):
    rows = rows_by_group(api_for(charlie).get("/api/v1/analytics/lift/?metric=conversion&group_by=segment"))

    row = rows["High-Intent Abandoners"]
    expected = lift(42, 300, 15, 150)
    assert (row["treated_n"], row["control_n"]) == (300, 150)
    assert row["treated_rate"] == pytest.approx(0.14)
    assert row["control_rate"] == pytest.approx(0.10)
    assert row["lift"] == pytest.approx(0.4)
    assert (row["ci_low"], row["ci_high"], row["p_value"]) == pytest.approx(
        (expected.ci_low, expected.ci_high, expected.p_value)
    )
    assert row["enough_data"] is True
    assert rows["Lapsed Users"]["enough_data"] is False
    assert rows["Lapsed Users"]["expected_lift"] == pytest.approx(0.22)  # "+22% reactivation" is about conversion


def test_open_lift_compares_the_experiment_arms(api_for, charlie, measured):
    rows = rows_by_group(api_for(charlie).get("/api/v1/analytics/lift/?metric=open&group_by=segment"))

    (row,) = rows.values()
    assert row["group"] == "High-Intent Abandoners · Window vs At once"
    assert (row["treated_n"], row["control_n"]) == (150, 150)
    assert row["lift"] == pytest.approx(0.5)
    assert row["expected_lift"] == pytest.approx(0.38)


@pytest.mark.parametrize(
    ("group_by", "group"),
    [("sequence", "Cart"), ("step", "Cart · email 1 (Reminder)"), ("variant", "Cart · email 1 (Reminder) · Default")],
)
def test_other_groupings(api_for, charlie, measured, group_by, group):
    rows = rows_by_group(api_for(charlie).get(f"/api/v1/analytics/lift/?metric=conversion&group_by={group_by}"))

    assert rows[group]["treated_n"] == 300 + 8
    assert rows[group]["control_n"] == 150 + 4


@pytest.mark.parametrize(
    ("query", "field"),
    [("metric=revenue", "metric"), ("group_by=colour", "group_by"), ("since=2026-05-02&until=2026-05-01", "until")],
)
def test_bad_queries_get_a_400_naming_the_field(api_for, charlie, query, field):
    response = api_for(charlie).get(f"/api/v1/analytics/lift/?{query}")

    assert response.status_code == 400
    assert field in response.json()


def test_analytics_needs_a_login(client, measured):
    assert APIClient().get("/api/v1/analytics/lift/").status_code in (401, 403)
    assert client.get("/analytics/").status_code == 302
    assert client.get("/analytics/export/funnel.csv").status_code == 302


def test_the_page_draws_every_chart_from_our_own_plotly(client, charlie, measured):
    client.force_login(charlie)

    html = client.get("/analytics/").content.decode()

    assert '<script src="/static/plotly/plotly.min.js"></script>' in html
    for chart in ("conversion-lift", "open-lift", "funnel", "open-by-hour", "conversion-by-hour", "fatigue", "trend"):
        assert f'id="figure-{chart}"' in html, chart
    assert "cdn" not in html.lower()


def test_filters_change_the_charts_without_a_full_page(client, charlie, measured):
    client.force_login(charlie)

    everything = client.get("/analytics/", HTTP_HX_REQUEST="true").content.decode()
    lapsed_only = client.get(
        f"/analytics/?segment={measured['lapsed'].pk}&period=7", HTTP_HX_REQUEST="true"
    ).content.decode()

    assert "<html" not in everything  # the charts partial only
    assert "High-Intent Abandoners" in everything
    assert "High-Intent Abandoners" not in lapsed_only
    assert "Lapsed Users" in lapsed_only


def test_a_bad_filter_in_a_shared_link_shows_the_defaults(client, charlie, measured):
    client.force_login(charlie)

    assert client.get("/analytics/?segment=999999&period=forever").status_code == 200


def test_every_chart_exports_its_table_as_csv(client, charlie, measured):
    client.force_login(charlie)

    response = client.get("/analytics/export/conversion-lift.csv?period=30")

    assert response["Content-Type"].startswith("text/csv")
    lines = response.content.decode().splitlines()
    assert lines[0].startswith("group,treated,control,treated rate %")
    assert any(line.startswith("High-Intent Abandoners,300,150,14.0,10.0,40.0") for line in lines)
    assert client.get("/analytics/export/nope.csv").status_code == 404
