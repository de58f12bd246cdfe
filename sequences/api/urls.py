from django.urls import path
from rest_framework.routers import DefaultRouter

from sequences.api.intent_views import ScoringModelViewSet, TriggerSettingsView
from sequences.api.preview_views import PreviewView
from sequences.api.sequence_views import SegmentViewSet, SequenceViewSet
from sequences.api.views import ContactViewSet

router = DefaultRouter()
router.register("contacts", ContactViewSet, basename="contact")
router.register("scoring-models", ScoringModelViewSet, basename="scoring-model")
router.register("sequences", SequenceViewSet, basename="sequence")
router.register("segments", SegmentViewSet, basename="segment")
urlpatterns = [
    path("preview/", PreviewView.as_view(), name="preview"),
    path("trigger-settings/", TriggerSettingsView.as_view(), name="trigger-settings"),
    *router.urls,
]
