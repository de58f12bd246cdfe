"""GET /api/v1/analytics/lift/: lift with intervals and p-values per group, from the rollups."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.lift_report import GROUPINGS, METRICS, ReportFilter, lift_report
from triggerapp.roles import IsViewer


class LiftQuerySerializer(serializers.Serializer):
    metric = serializers.ChoiceField(METRICS, default="conversion")
    group_by = serializers.ChoiceField(GROUPINGS, default="segment")
    since = serializers.DateField(required=False, help_text="First day (UTC) of sends to include")
    until = serializers.DateField(required=False, help_text="Last day (UTC) of sends to include")
    sequence = serializers.IntegerField(required=False, min_value=1)
    segment = serializers.IntegerField(required=False, min_value=1)
    machine_opens = serializers.ChoiceField(
        ["exclude", "include"], default="exclude", help_text="Count opens by privacy proxies (Apple Mail...)"
    )

    def validate(self, data):
        if data.get("since") and data.get("until") and data["until"] < data["since"]:
            raise serializers.ValidationError({"until": "Must not be before since."})
        return data

    def report_filter(self) -> ReportFilter:
        data = self.validated_data
        return ReportFilter(
            since=data.get("since"),
            until=data.get("until"),
            sequence_id=data.get("sequence"),
            segment_id=data.get("segment"),
            human_opens_only=data["machine_opens"] == "exclude",
        )


LiftRowSerializer = inline_serializer(
    "LiftRow",
    {
        "group": serializers.CharField(),
        "treated_n": serializers.IntegerField(),
        "control_n": serializers.IntegerField(),
        "treated_rate": serializers.FloatField(allow_null=True),
        "control_rate": serializers.FloatField(allow_null=True),
        "lift": serializers.FloatField(allow_null=True),
        "ci_low": serializers.FloatField(allow_null=True),
        "ci_high": serializers.FloatField(allow_null=True),
        "p_value": serializers.FloatField(allow_null=True),
        "always_valid_p": serializers.FloatField(allow_null=True),
        "enough_data": serializers.BooleanField(),
        "note": serializers.CharField(),
        "expected_lift": serializers.FloatField(allow_null=True),
    },
    many=True,
)


class LiftView(APIView):
    """Relative lift per group with a 95% interval and p-values (docs/statistics.md).

    Conversion: enrolments in the sequence against its randomised holdout. Open and click: each arm of an
    experiment on a step against that experiment's baseline arm, over sent messages. `p_value` is valid for a
    sample size fixed in advance; `always_valid_p` stays valid however often you look."""

    permission_classes = [IsViewer]

    @extend_schema(parameters=[LiftQuerySerializer], responses={200: LiftRowSerializer})
    def get(self, request):
        query = LiftQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        rows = lift_report(data["metric"], data["group_by"], query.report_filter())
        return Response([row.as_dict() for row in rows])
