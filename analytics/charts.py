"""Chart figures (pure): tables of numbers in, plotly figure dicts out (rendered by plotly.js in the page).

Every chart is a `Chart`: the same rows feed the figure, the table view and the CSV export, so the three can
never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

BLUE, GREY, GREEN, RED = "#1d4ed8", "#9ca3af", "#059669", "#dc2626"
LAYOUT = {
    "margin": {"l": 60, "r": 20, "t": 30, "b": 60},
    "height": 340,
    "font": {"family": "system-ui, sans-serif", "size": 12},
    "legend": {"orientation": "h", "y": 1.12},
    "paper_bgcolor": "rgba(0,0,0,0)",
    "plot_bgcolor": "rgba(0,0,0,0)",
}


@dataclass(frozen=True, slots=True)
class Chart:
    id: str
    title: str
    description: str
    columns: tuple[str, ...]
    rows: list[tuple]
    figure: dict = field(default_factory=dict)
    empty_message: str = "No data for this period and filter yet."

    @property
    def figure_id(self) -> str:
        return f"figure-{self.id}"


def _pct(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 2)


def lift_chart(chart_id: str, title: str, description: str, rows: list[dict]) -> Chart:
    """Bars of relative lift per group with their 95% interval as error bars, the marketer's expected lift as a
    reference marker, and the groups without enough data drawn grey."""
    shown = [row for row in rows if row["lift"] is not None]
    lifts = [_pct(row["lift"]) for row in shown]
    upper = [(_pct(row["ci_high"]) - _pct(row["lift"])) if row["ci_high"] is not None else 0 for row in shown]
    lower = [(_pct(row["lift"]) - _pct(row["ci_low"])) if row["ci_low"] is not None else 0 for row in shown]
    traces = [
        {
            "type": "bar",
            "name": "Measured lift (95% interval)",
            "x": [row["group"].replace(" · ", "<br>") for row in shown],
            "y": lifts,
            "marker": {"color": [BLUE if row["enough_data"] else GREY for row in shown]},
            "error_y": {"type": "data", "symmetric": False, "array": upper, "arrayminus": lower, "color": "#111827"},
            "hovertemplate": "%{x}<br>lift %{y:.1f}%<extra></extra>",
        }
    ]
    expected = [(row["group"], _pct(row["expected_lift"])) for row in shown if row.get("expected_lift") is not None]
    if expected:
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "Expected (the segment's note)",
                "x": [group.replace(" · ", "<br>") for group, _ in expected],
                "y": [value for _, value in expected],
                "marker": {"symbol": "line-ew-open", "size": 36, "line": {"width": 3, "color": RED}},
            }
        )
    figure = {
        "data": traces,
        "layout": {**LAYOUT, "yaxis": {"title": "relative lift (%)", "zeroline": True}, "showlegend": True},
    }
    table = [
        (
            row["group"],
            row["treated_n"],
            row["control_n"],
            _pct(row["treated_rate"]),
            _pct(row["control_rate"]),
            _pct(row["lift"]),
            _pct(row["ci_low"]),
            _pct(row["ci_high"]),
            None if row["p_value"] is None else round(row["p_value"], 4),
            None if row["always_valid_p"] is None else round(row["always_valid_p"], 4),
            row["note"],
        )
        for row in rows
    ]
    columns = (
        "group",
        "treated",
        "control",
        "treated rate %",
        "control rate %",
        "lift %",
        "95% low %",
        "95% high %",
        "p (fixed sample)",
        "p (always valid)",
        "what it means",
    )
    return Chart(chart_id, title, description, columns, table, figure if shown else {})


def funnel_chart(rows: list[tuple[str, int, int, int, int]]) -> Chart:
    """Sent → opened → clicked → converted for each step (sent messages of the treated group)."""
    stages = ("sent", "opened", "clicked", "converted")
    traces = [
        {
            "type": "bar",
            "name": stage,
            "x": [row[0].replace(" · ", "<br>") for row in rows],  # sequence, then step, on two lines
            "y": [row[index + 1] for row in rows],
        }
        for index, stage in enumerate(stages)
    ]
    figure = {
        "data": traces,
        "layout": {**LAYOUT, "barmode": "group", "yaxis": {"title": "messages"}, "xaxis": {"automargin": True}},
    }
    return Chart(
        "funnel",
        "Funnel by sequence and step",
        "Sent messages and how many were opened (people, not privacy proxies), clicked and credited with an order.",
        ("step", *stages),
        rows,
        figure if rows else {},
    )


def heatmap_chart(chart_id: str, title: str, description: str, rows: list[tuple[str, int, int, int]]) -> Chart:
    """Rates by local send hour (columns) and segment (rows); rows are (segment, hour, successes, messages)."""
    segments = sorted({row[0] for row in rows})
    hours = list(range(24))
    cells = {(row[0], row[1]): (row[2], row[3]) for row in rows}
    z = [
        [_pct(cells[(s, h)][0] / cells[(s, h)][1]) if cells.get((s, h), (0, 0))[1] else None for h in hours]
        for s in segments
    ]
    text = [[f"{cells.get((s, h), (0, 0))[1]} sent" for h in hours] for s in segments]
    figure = {
        "data": [
            {
                "type": "heatmap",
                "x": [f"{h:02d}:00" for h in hours],
                "y": segments,
                "z": z,
                "text": text,
                "colorscale": "Blues",
                "reversescale": True,  # plotly's Blues runs dark to light: darker must mean a higher rate
                "hovertemplate": "%{y} at %{x}: %{z:.1f}% (%{text})<extra></extra>",
                "colorbar": {"title": "%"},
            }
        ],
        "layout": {**LAYOUT, "xaxis": {"title": "contact's local send hour"}, "yaxis": {"automargin": True}},
    }
    table = [(s, f"{h:02d}:00", *cells[(s, h)], _pct(cells[(s, h)][0] / cells[(s, h)][1])) for s, h in sorted(cells)]
    return Chart(
        chart_id, title, description, ("segment", "hour", "successes", "sent", "rate %"), table, figure if rows else {}
    )


def fatigue_chart(rows: list[tuple[str, int, int, int, int]]) -> Chart:
    """Open, click and unsubscribe rates by emails the contact received in the 48 h before (0, 1, 2, 3+)."""
    labels = [row[0] for row in rows]
    figure = {
        "data": [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": name,
                "x": labels,
                "y": [_pct(r[i] / r[1]) for r in rows],
            }
            for name, i in (("open rate %", 2), ("click rate %", 3), ("unsubscribe rate %", 4))
        ],
        "layout": {
            **LAYOUT,
            "xaxis": {"title": "emails received in the 48 h before", "type": "category"},
            "yaxis": {"title": "%"},
        },
    }
    table = [(r[0], r[1], r[2], r[3], r[4], _pct(r[2] / r[1]), _pct(r[3] / r[1]), _pct(r[4] / r[1])) for r in rows]
    columns = ("emails in 48 h before", "sent", "opened", "clicked", "unsubscribed", "open %", "click %", "unsub %")
    return Chart(
        "fatigue",
        "Fatigue",
        "Do contacts who just got emails open less? Rates by how many emails they received in the 48 hours before.",
        columns,
        table,
        figure if rows else {},
    )


def trend_chart(rows: list[tuple[str, int, int, int, int, int]]) -> Chart:
    """Per day: sent, open rate, conversion rate of enrolments in the sequence and in the holdout."""
    days = [row[0] for row in rows]

    def rate(x: int, n: int) -> float | None:
        return _pct(x / n) if n else None

    figure = {
        "data": [
            {"type": "bar", "name": "sent", "x": days, "y": [r[1] for r in rows], "marker": {"color": "#c7d2fe"}},
            {"type": "scatter", "name": "open rate %", "x": days, "y": [rate(r[2], r[1]) for r in rows], "yaxis": "y2"},
            {
                "type": "scatter",
                "name": "conversion % (emailed)",
                "x": days,
                "y": [rate(r[3], r[4]) for r in rows],
                "yaxis": "y2",
            },
            {
                "type": "scatter",
                "name": "conversion % (holdout)",
                "x": days,
                "y": [rate(r[5], r[6]) for r in rows],
                "yaxis": "y2",
                "line": {"dash": "dot"},
            },
        ],
        "layout": {
            **LAYOUT,
            "yaxis": {"title": "sent"},
            "yaxis2": {"title": "%", "overlaying": "y", "side": "right"},
        },
    }
    columns = ("day", "sent", "opened", "enrolments converted", "enrolments", "holdout converted", "holdout enrolments")
    return Chart(
        "trend",
        "Trends",
        "Daily sends, open rate and conversion of enrolments against the holdout.",
        columns,
        rows,
        figure if rows else {},
    )
