"""The analytics page: charts with table views and CSV exports, filtered through htmx without full reloads."""

from __future__ import annotations

import csv

from django.http import Http404, HttpResponse
from django.shortcuts import render

from analytics.dashboard import chart_by_id, dashboard_charts
from analytics.forms import AnalyticsFilterForm
from triggerapp.roles import VIEWER, role_required


@role_required(VIEWER)
def analytics(request):
    form = AnalyticsFilterForm(request.GET or None)
    if request.GET and not form.is_valid():
        form = AnalyticsFilterForm()  # unknown ids or periods in a shared link: show the defaults, never a 500
    charts = dashboard_charts(form.report_filter())
    context = {"form": form, "charts": charts, "query": request.GET.urlencode()}
    template = "analytics/dashboard.html#charts" if request.htmx else "analytics/dashboard.html"
    return render(request, template, context)


@role_required(VIEWER)
def chart_csv(request, chart_id: str):
    form = AnalyticsFilterForm(request.GET or None)
    chart = chart_by_id(form.report_filter(), chart_id)
    if chart is None:
        raise Http404("No such chart.")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="triggerapp-{chart.id}.csv"'
    writer = csv.writer(response)
    writer.writerow(chart.columns)
    for row in chart.rows:
        # A leading = + - @ would make a spreadsheet run the cell as a formula (CSV injection): quote it.
        writer.writerow([f"'{cell}" if isinstance(cell, str) and cell[:1] in "=+-@" else cell for cell in row])
    return response
