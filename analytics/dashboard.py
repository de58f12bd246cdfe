"""The analytics page's data (shell): a handful of aggregate queries over the rollups, shaped into charts."""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Sum

from analytics.charts import Chart, fatigue_chart, funnel_chart, heatmap_chart, lift_chart, trend_chart
from analytics.lift_report import Labels, ReportFilter, lift_report
from analytics.models import SendTimeStats

FATIGUE_LABELS = {0: "0", 1: "1", 2: "2", 3: "3 or more"}


def conversion_lift(report_filter: ReportFilter, labels: Labels) -> Chart:
    rows = [row.as_dict() for row in lift_report("conversion", "segment", report_filter, labels)]
    return lift_chart(
        "conversion-lift",
        "Conversion lift by segment",
        "Enrolments that led to an order, emailed against the randomised holdout of the same sequences. Grey bars: "
        "not enough data yet. Red marks: the lift the segment's note expects.",
        rows,
    )


def open_lift(report_filter: ReportFilter, labels: Labels) -> Chart:
    rows = [row.as_dict() for row in lift_report("open", "segment", report_filter, labels)]
    return lift_chart(
        "open-lift",
        "Open lift by segment (experiment arms)",
        "Opens by people (privacy-proxy opens left out unless included) of each experiment arm against its baseline.",
        rows,
    )


def funnel(report_filter: ReportFilter, labels: Labels) -> Chart:
    totals = (
        report_filter.rows()
        .filter(control=False)
        .values("sequence_id", "step_id", "step_position")
        .annotate(sent=Sum("messages"), opened=Sum("opened_human"), clicked=Sum("clicked"), converted=Sum("converted"))
        .order_by("sequence_id", "step_position")
    )
    rows = [
        (labels.group(row, "step"), row["sent"], row["opened"], row["clicked"], row["converted"])
        for row in totals
        if row["sent"]
    ]
    return funnel_chart(rows)


def _send_time_rows(report_filter: ReportFilter):
    return report_filter.apply(SendTimeStats.objects.all())


def send_hour(report_filter: ReportFilter, labels: Labels, metric: str) -> Chart:
    success = {"open": "opened_human" if report_filter.human_opens_only else "opened", "conversion": "converted"}[
        metric
    ]
    totals = (
        _send_time_rows(report_filter)
        .filter(local_hour__gte=0)
        .values("segment_id", "local_hour")
        .annotate(successes=Sum(success), messages=Sum("messages"))
    )
    cells: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
    for row in totals:
        cell = cells[(labels.group(row, "segment"), row["local_hour"])]
        cell[0] += row["successes"]
        cell[1] += row["messages"]
    rows = [(segment, hour, x, n) for (segment, hour), (x, n) in cells.items()]
    word = "Open" if metric == "open" else "Conversion"
    return heatmap_chart(
        f"{metric}-by-hour",
        f"{word} rate by local send hour",
        f"{word} rate of sent emails by the hour they reached the contact, in the contact's own time zone.",
        rows,
    )


def fatigue(report_filter: ReportFilter, labels: Labels) -> Chart:
    opened = "opened_human" if report_filter.human_opens_only else "opened"
    totals = (
        _send_time_rows(report_filter)
        .filter(recent_sends__gte=0)
        .values("recent_sends")
        .annotate(sent=Sum("messages"), opened=Sum(opened), clicked=Sum("clicked"), unsubscribed=Sum("unsubscribed"))
        .order_by("recent_sends")
    )
    rows = [
        (FATIGUE_LABELS[row["recent_sends"]], row["sent"], row["opened"], row["clicked"], row["unsubscribed"])
        for row in totals
        if row["sent"]
    ]
    return fatigue_chart(rows)


def trend(report_filter: ReportFilter, labels: Labels) -> Chart:
    opened = "opened_human" if report_filter.human_opens_only else "opened"
    totals = (
        report_filter.rows()
        .values("day", "control")
        .annotate(
            sent=Sum("messages"),
            opened=Sum(opened),
            converted=Sum("enrolments_converted"),
            enrolments=Sum("enrolments"),
        )
        .order_by("day")
    )
    days: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0, 0])
    for row in totals:
        day = days[row["day"].isoformat()]
        if row["control"]:
            day[4] += row["converted"]
            day[5] += row["enrolments"]
        else:
            day[0] += row["sent"]
            day[1] += row["opened"]
            day[2] += row["converted"]
            day[3] += row["enrolments"]
    return trend_chart([(day, *values) for day, values in sorted(days.items())])


CHARTS = {
    "conversion-lift": conversion_lift,
    "open-lift": open_lift,
    "funnel": funnel,
    "open-by-hour": lambda report_filter, labels: send_hour(report_filter, labels, "open"),
    "conversion-by-hour": lambda report_filter, labels: send_hour(report_filter, labels, "conversion"),
    "fatigue": fatigue,
    "trend": trend,
}


def dashboard_charts(report_filter: ReportFilter) -> list[Chart]:
    labels = Labels()
    return [build(report_filter, labels) for build in CHARTS.values()]


def chart_by_id(report_filter: ReportFilter, chart_id: str) -> Chart | None:
    """One chart only (a CSV export need not compute the other six)."""
    build = CHARTS.get(chart_id)
    return build(report_filter, Labels()) if build else None
