"""The analytics filters: period, sequence, segment, and whether privacy-proxy opens count."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.utils import timezone

from analytics.lift_report import ReportFilter
from sequences.models import Segment, Sequence

PERIODS = [("7", "Last 7 days"), ("30", "Last 30 days"), ("90", "Last 90 days"), ("all", "All time")]


class AnalyticsFilterForm(forms.Form):
    period = forms.ChoiceField(choices=PERIODS, initial="30", required=False)
    sequence = forms.ModelChoiceField(Sequence.objects.all(), required=False, empty_label="All sequences")
    segment = forms.ModelChoiceField(Segment.objects.all(), required=False, empty_label="All segments")
    machine_opens = forms.BooleanField(required=False, label="Count privacy-proxy opens")

    def report_filter(self) -> ReportFilter:
        data = self.cleaned_data if self.is_valid() else {}
        period = data.get("period") or "30"
        since = None if period == "all" else timezone.now().date() - timedelta(days=int(period) - 1)
        return ReportFilter(
            since=since,
            sequence_id=data["sequence"].pk if data.get("sequence") else None,
            segment_id=data["segment"].pk if data.get("segment") else None,
            human_opens_only=not data.get("machine_opens"),
        )
