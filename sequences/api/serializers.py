from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from sequences.api.intent_serializers import ContactIntentMixin
from sequences.models import Contact, Event


class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = [
            "id",
            "type",
            "name",
            "properties",
            "context",
            "occurred_at",
            "received_at",
            "message_id",
            "session_id",
        ]


class ContactSerializer(serializers.ModelSerializer):
    anonymous_ids = serializers.SlugRelatedField(many=True, read_only=True, slug_field="value")

    class Meta:
        model = Contact
        fields = [
            "id",
            "user_id",
            "anonymous_ids",
            "email",
            "first_name",
            "last_name",
            "time_zone",
            "lifecycle_stage",
            "subscription_status",
            "traits",
            "created_at",
            "last_seen_at",
        ]


class ContactDetailSerializer(ContactIntentMixin, ContactSerializer):
    recent_events = serializers.SerializerMethodField()

    class Meta(ContactSerializer.Meta):
        fields = [
            *ContactSerializer.Meta.fields,
            "intent_score",
            "intent_tier",
            "score_factors",
            "triggers",
            "recent_events",
        ]

    @extend_schema_field(EventSerializer(many=True))
    def get_recent_events(self, contact: Contact) -> list[dict]:
        events = contact.events.order_by("-occurred_at")[:50]
        return EventSerializer(events, many=True).data
