from rest_framework import viewsets

from sequences.api.sequence_serializers import SegmentSerializer, SequenceSerializer
from sequences.models import Segment, Sequence
from triggerapp.roles import ViewerReadsEditorWrites


class SequenceViewSet(viewsets.ModelViewSet):
    """Sequences with their steps. Setting `status` to `active` is refused (400) while the sequence is incomplete.
    Every change bumps `version`; see docs/sequences.md for what an edit does to enrolments under way."""

    serializer_class = SequenceSerializer
    permission_classes = [ViewerReadsEditorWrites]
    queryset = Sequence.objects.prefetch_related("steps", "segments")


class SegmentViewSet(viewsets.ModelViewSet):
    """Segments: a condition (the condition language) and a send window after the trigger."""

    serializer_class = SegmentSerializer
    permission_classes = [ViewerReadsEditorWrites]
    queryset = Segment.objects.all()
