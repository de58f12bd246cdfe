from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from sequences.api.intent_serializers import (
    ScoringModelSerializer,
    TriggerSettingsSerializer,
    WhatIfRequestSerializer,
    WhatIfSerializer,
)
from sequences.api.scoring_schema import DEFAULT_CONFIG_EXAMPLE, WHAT_IF_EXAMPLE
from sequences.intent import active_scoring
from sequences.models import ScoringModel, TriggerSettings
from sequences.scoring_models import scoring_model_activate, scoring_model_create, what_if
from triggerapp.roles import IsViewer, ViewerReadsEditorWrites


@extend_schema_view(create=extend_schema(examples=[DEFAULT_CONFIG_EXAMPLE]))
class ScoringModelViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Versions of the intent scoring model. Creating one saves a new version (and by default activates it);
    versions are never edited, so every stored score can name the model that made it."""

    serializer_class = ScoringModelSerializer
    permission_classes = [ViewerReadsEditorWrites]
    lookup_field = "version"
    lookup_value_regex = "[0-9]+"

    def get_queryset(self):
        active_scoring()  # make sure version 1 exists
        return ScoringModel.objects.select_related("created_by")

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = scoring_model_create(
            config=data["config"], note=data.get("note", ""), user=self.request.user, activate=data["activate"]
        )

    @extend_schema(request=None, responses=ScoringModelSerializer)
    @action(detail=True, methods=["post"])
    def activate(self, request, version=None):
        """Make this version the active one (e.g. to roll back)."""
        model = scoring_model_activate(model=get_object_or_404(ScoringModel, version=version))
        return Response(self.get_serializer(model).data)

    @extend_schema(request=WhatIfRequestSerializer, responses=WhatIfSerializer, examples=[WHAT_IF_EXAMPLE])
    # A what-if changes nothing, so viewers may ask it too.
    @action(detail=False, methods=["post"], url_path="what-if", permission_classes=[IsViewer])
    def what_if(self, request):
        """How current contacts would re-tier under a draft configuration (nothing is saved)."""
        serializer = WhatIfRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = what_if(draft=data["config"], now=timezone.now(), at_last_activity=data["as_of"] == "last_activity")
        return Response(WhatIfSerializer(result).data)


class TriggerSettingsView(APIView):
    """How events become triggers: event-name mapping, timeouts and thresholds. Editors may change them."""

    permission_classes = [ViewerReadsEditorWrites]

    @extend_schema(responses=TriggerSettingsSerializer)
    def get(self, request):
        return Response(TriggerSettingsSerializer(TriggerSettings.current()).data)

    @extend_schema(request=TriggerSettingsSerializer, responses=TriggerSettingsSerializer)
    def put(self, request):
        serializer = TriggerSettingsSerializer(TriggerSettings.current(), data=request.data)
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(serializer.data)

    @extend_schema(request=TriggerSettingsSerializer, responses=TriggerSettingsSerializer)
    def patch(self, request):
        serializer = TriggerSettingsSerializer(TriggerSettings.current(), data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(serializer.data)
