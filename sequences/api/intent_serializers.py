from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from sequences.api.scoring_schema import EventActionsField, ScoringConfigField
from sequences.intent import active_scoring, current_intent
from sequences.models import Contact, ScoringModel, TriggerOccurrence, TriggerSettings
from sequences.scoring_config import ACTIONS, ConfigError, parse_config


class ScoreFactorSerializer(serializers.Serializer):
    factor = serializers.CharField()
    weight = serializers.FloatField(allow_null=True, help_text="Percent; null for context and decay lines.")
    sub_score = serializers.FloatField(allow_null=True)
    contribution = serializers.FloatField(help_text="Points this line adds to the score (negative: takes away).")
    reason = serializers.CharField()


class TriggerOccurrenceSerializer(serializers.ModelSerializer):
    class Meta:
        model = TriggerOccurrence
        fields = ["type", "key", "occurred_at", "detected_at", "status", "fired_at", "score", "tier", "facts"]


class ContactIntentMixin(serializers.Serializer):
    """intent_score / intent_tier / score_factors as of now (decay included), and recent triggers."""

    intent_score = serializers.SerializerMethodField()
    intent_tier = serializers.SerializerMethodField()
    score_factors = serializers.SerializerMethodField()
    triggers = serializers.SerializerMethodField()

    def _intent(self, contact: Contact):
        if not hasattr(contact, "_current_intent"):
            _, config = active_scoring()
            contact._current_intent = current_intent(contact, config, now=timezone.now())
        return contact._current_intent

    def get_intent_score(self, contact: Contact) -> float | None:
        intent = self._intent(contact)
        return intent.value if intent else None

    def get_intent_tier(self, contact: Contact) -> str | None:
        intent = self._intent(contact)
        return intent.tier if intent else None

    @extend_schema_field(ScoreFactorSerializer(many=True))
    def get_score_factors(self, contact: Contact) -> list[dict]:
        intent = self._intent(contact)
        return intent.as_json() if intent else []

    @extend_schema_field(TriggerOccurrenceSerializer(many=True))
    def get_triggers(self, contact: Contact) -> list[dict]:
        return TriggerOccurrenceSerializer(contact.triggers.order_by("-occurred_at")[:20], many=True).data


class ScoringModelSerializer(serializers.ModelSerializer):
    config = ScoringConfigField(help_text="The configuration; every problem is listed at once when it is refused.")
    activate = serializers.BooleanField(default=True, write_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ScoringModel
        fields = ["version", "config", "note", "is_active", "created_at", "created_by", "activate"]
        read_only_fields = ["version", "is_active", "created_at", "created_by"]

    def validate_config(self, value):
        try:
            parse_config(value)
        except ConfigError as error:
            raise serializers.ValidationError(error.errors) from None
        return value


class WhatIfRequestSerializer(serializers.Serializer):
    config = ScoringConfigField(help_text="The draft configuration to re-score current contacts under.")
    as_of = serializers.ChoiceField(
        choices=["now", "last_activity"],
        default="now",
        help_text="now: scores today, decay included; last_activity: each contact as of its last event, unfaded.",
    )

    def validate_config(self, value):
        try:
            return parse_config(value)
        except ConfigError as error:
            raise serializers.ValidationError(error.errors) from None


class WhatIfRowSerializer(serializers.Serializer):
    user_id = serializers.CharField(source="contact.user_id", allow_null=True)
    name = serializers.CharField(source="contact.display_name")
    current_score = serializers.FloatField()
    current_tier = serializers.CharField()
    draft_score = serializers.FloatField()
    draft_tier = serializers.CharField()


class WhatIfSerializer(serializers.Serializer):
    contacts_scored = serializers.IntegerField()
    changed = serializers.IntegerField(help_text="Contacts whose tier would change.")
    moves = serializers.SerializerMethodField()
    rows = WhatIfRowSerializer(many=True)

    def get_moves(self, result) -> list[dict]:
        return [{"from": a, "to": b, "contacts": n} for (a, b), n in sorted(result.moves.items())]


class PageGroupSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    path_prefix = serializers.RegexField(r"^/", max_length=200, error_messages={"invalid": "Must start with /."})


class TriggerSettingsSerializer(serializers.ModelSerializer):
    event_actions = EventActionsField(required=False)
    page_groups = PageGroupSerializer(many=True)

    class Meta:
        model = TriggerSettings
        fields = [
            "event_actions",
            "cart_abandon_minutes",
            "page_exit_minutes",
            "page_groups",
            "long_session_minutes",
            "lapsed_days",
            "updated_at",
        ]
        read_only_fields = ["updated_at"]

    def validate_event_actions(self, value):
        if not isinstance(value, dict) or not value:
            raise serializers.ValidationError("Give an object of event name -> action.")
        problems = [
            f"{name!r} -> {action!r}: the action must be one of {', '.join(ACTIONS)}."
            for name, action in value.items()
            if not isinstance(name, str) or not name.strip() or action not in ACTIONS
        ]
        if problems:
            raise serializers.ValidationError(problems)
        return {name.strip(): action for name, action in value.items()}
