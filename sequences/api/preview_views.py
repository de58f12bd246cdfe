"""POST /api/v1/preview/: what a step would send to a real contact or a hypothetical one, and why."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from sequences.copy_preview import Hypothetical, preview_step
from sequences.copy_selection import NoDefaultVariant
from sequences.copy_templates import CopyTemplateError
from sequences.models import Contact, Step, TriggerType
from triggerapp.roles import IsViewer


class HypotheticalSerializer(serializers.Serializer):
    trigger_type = serializers.ChoiceField(TriggerType.choices, default="cart_abandoned")
    session_seconds = serializers.IntegerField(min_value=0, max_value=7 * 86400, default=420)
    category = serializers.CharField(max_length=100, allow_blank=True, default="")
    tier = serializers.ChoiceField(["high", "medium", "low"], default="high")
    score = serializers.FloatField(min_value=0, max_value=100, default=85)
    first_name = serializers.CharField(max_length=100, allow_blank=True, default="")
    last_name = serializers.CharField(max_length=100, allow_blank=True, default="")
    email = serializers.EmailField(default="preview@example.com")
    lifecycle_stage = serializers.CharField(max_length=50, allow_blank=True, default="lead")
    product_name = serializers.CharField(max_length=200, allow_blank=True, default="")
    product_price = serializers.DecimalField(max_digits=12, decimal_places=2, required=False, allow_null=True)
    product_variant = serializers.CharField(max_length=100, allow_blank=True, default="")
    product_image_url = serializers.URLField(max_length=500, allow_blank=True, default="")
    content = serializers.CharField(max_length=200, allow_blank=True, default="")


class PreviewRequestSerializer(serializers.Serializer):
    step = serializers.PrimaryKeyRelatedField(queryset=Step.objects.all(), help_text="The step (email) to preview")
    user_id = serializers.CharField(required=False, help_text="A real contact: their latest trigger and session")
    context = HypotheticalSerializer(required=False, help_text="Or a hypothetical contact and trigger")
    reengagement = serializers.BooleanField(
        default=False, help_text="As if the engagement-decay gate asked for re-engagement copy"
    )

    def validate(self, data):
        if ("user_id" in data) == ("context" in data):
            raise serializers.ValidationError({"user_id": "Give either user_id or context, not both or neither."})
        if "user_id" in data:
            data["contact"] = Contact.objects.filter(user_id=data["user_id"]).first()
            if data["contact"] is None:
                raise serializers.ValidationError({"user_id": "No contact has this user_id."})
        return data


PreviewResponse = inline_serializer(
    "PreviewResponse",
    {
        "variant": serializers.CharField(),
        "subject": serializers.CharField(),
        "preheader": serializers.CharField(),
        "html": serializers.CharField(),
        "text": serializers.CharField(),
        "trace": serializers.ListField(child=serializers.DictField()),
    },
)


class PreviewView(APIView):
    """The variant that wins for the contact (with the rule trace of every variant tried), and the email it
    renders: subject, preheader, HTML and plain text, exactly as delivery would build them (links untracked)."""

    permission_classes = [IsViewer]

    @extend_schema(request=PreviewRequestSerializer, responses={200: PreviewResponse})
    def post(self, request):
        serializer = PreviewRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            preview = preview_step(
                data["step"],
                contact=data.get("contact"),
                hypothetical=Hypothetical(**data["context"]) if "context" in data else None,
                reengagement=data["reengagement"],
            )
        except NoDefaultVariant:
            return Response({"step": ["This email has no default copy variant yet."]}, status=400)
        except CopyTemplateError as error:
            return Response({"template": [str(error)]}, status=400)
        return Response(preview.as_dict())
