"""How the OpenAPI schema describes a scoring configuration and the event-name mapping (documentation only).

Both travel as free JSON and are validated as a whole by scoring_config.parse_config (every problem listed at
once), so the API keeps JSON fields; these serializers only give the schema their shape, limits and the
shipped defaults as examples, so a client sees what it may send without reading the code.
"""

from drf_spectacular.utils import OpenApiExample, extend_schema_field
from rest_framework import serializers

from sequences.conditions import FIELDS, OPERATORS
from sequences.models.trigger_settings import default_event_actions
from sequences.scoring_config import (
    ACTIONS,
    DEFAULT_CONFIG_JSON,
    DEFAULT_REPEAT_DOWNLOAD_DAYS,
    FACTORS,
    MAX_REPEAT_DOWNLOAD_DAYS,
    SCORING_FIELD_PREFIXES,
)


def _score(help_text: str = "", **kwargs) -> serializers.FloatField:
    return serializers.FloatField(min_value=0, max_value=100, help_text=help_text, **kwargs)


# One field per factor and per action, named as in the configuration (built, so a new one cannot be forgotten).
ScoringWeightsSerializer = type(
    "ScoringWeightsSerializer",
    (serializers.Serializer,),
    {factor: serializers.FloatField(min_value=0, help_text="Percent of the score.") for factor in FACTORS},
)
ActionDepthSerializer = type(
    "ActionDepthSerializer", (serializers.Serializer,), {action: _score(required=False) for action in ACTIONS}
)


def _breakpoints(what: str) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2),
        min_length=1,
        help_text=f"[seconds, sub-score] pairs for {what}: seconds ≥ 0, sub-scores 0-100 that never fall as the"
        " seconds grow; linear between pairs, flat beyond the ends.",
    )


_SCORING_FIELDS = ", ".join(name for name in FIELDS if name.startswith(SCORING_FIELD_PREFIXES))


class ContextRuleSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="What the rule means; shown in the score's explanation.")
    condition = serializers.JSONField(
        help_text='A rule of the condition language: {"all": [...]}, {"any": [...]}, {"not": rule} or '
        '{"field": ..., "op": ..., "value": ...}. Operators: '
        + ", ".join(sorted(OPERATORS))
        + ". Fields a context rule may read: "
        + _SCORING_FIELDS
        + " (a field ending in .* takes any sub-path).",
    )
    adjust = serializers.FloatField(
        min_value=-100, max_value=100, required=False, default=0, help_text="Points added when the rule holds."
    )
    cap = _score("The score is capped at this when the rule holds.", required=False, allow_null=True)


class ScoringConfigSerializer(serializers.Serializer):
    """An intent scoring model's configuration (sequences/scoring_config.py). Set `adjust` or `cap` on each rule."""

    weights = ScoringWeightsSerializer(help_text="Percent per factor; the four must total 100.")
    session_time = _breakpoints("the session's duration")
    product_dwell = _breakpoints("the time spent on product pages")
    action_depth = ActionDepthSerializer(help_text="Sub-score of the deepest funnel action in the session.")
    categories = serializers.DictField(child=_score(), help_text="Product category -> relevance (0-100).")
    default_category = _score("Relevance of a category not in `categories`.")
    past_category_bonus = _score("Added when the contact has shown interest in the category before.")
    lifecycle = serializers.DictField(child=_score(), help_text="CRM lifecycle stage -> sub-score (0-100).")
    unknown_stage = _score("Sub-score when the stage is unknown.")
    high_threshold = _score("High intent from this score.")
    medium_threshold = _score("Medium intent from this score; below the high threshold.")
    half_life_hours = serializers.FloatField(
        min_value=0, help_text="Intent fades: the score halves every this many hours (above 0) of silence."
    )
    repeat_download_days = serializers.IntegerField(
        min_value=1,
        max_value=MAX_REPEAT_DOWNLOAD_DAYS,
        required=False,
        default=DEFAULT_REPEAT_DOWNLOAD_DAYS,
        help_text="contact.recent_downloads counts the content downloads of this many days up to the event"
        f" scored (absent: {DEFAULT_REPEAT_DOWNLOAD_DAYS}).",
    )
    context_rules = ContextRuleSerializer(many=True, required=False, help_text="Applied in order after the factors.")


@extend_schema_field(ScoringConfigSerializer)
class ScoringConfigField(serializers.JSONField):
    """A configuration as JSON, validated by parse_config; typed in the schema by ScoringConfigSerializer."""


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {"type": "string", "enum": list(ACTIONS)},
        "description": "Event name -> the funnel action it counts as. Page and screen calls are page views.",
        "example": default_event_actions(),
    }
)
class EventActionsField(serializers.JSONField):
    """Event name -> funnel action, as JSON."""


DEFAULT_CONFIG_EXAMPLE = OpenApiExample(
    "Shipped defaults",
    summary="The source document's defaults (version 1)",
    value={"config": DEFAULT_CONFIG_JSON, "note": "Shipped defaults"},
    request_only=True,
)
WHAT_IF_EXAMPLE = OpenApiExample(
    "Shipped defaults with a higher bar for high intent",
    value={"config": {**DEFAULT_CONFIG_JSON, "high_threshold": 85}},
    request_only=True,
)
