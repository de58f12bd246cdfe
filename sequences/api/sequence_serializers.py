from django.db import transaction
from django.utils import timezone
from rest_framework import serializers

from sequences import conditions
from sequences.copy_validation import step_variant_problems, variant_problems
from sequences.enrolment import remove_step
from sequences.models import CopyVariant, Message, Segment, Sequence, Step
from sequences.sequence_rules import activation_problems


class SegmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Segment
        fields = [
            "id",
            "name",
            "condition",
            "delay_min_minutes",
            "delay_max_minutes",
            "preferred_start",
            "preferred_end",
            "expected_lift",
            "example_trigger",
            "notes",
            "position",
        ]

    def validate_condition(self, value):
        problems = conditions.validate(value)
        if problems:
            raise serializers.ValidationError(problems)
        return value

    def validate(self, data):
        low = data.get("delay_min_minutes", getattr(self.instance, "delay_min_minutes", 0))
        high = data.get("delay_max_minutes", getattr(self.instance, "delay_max_minutes", 0))
        if high < low:
            raise serializers.ValidationError({"delay_max_minutes": "Must not be before delay_min_minutes."})
        return data


class CopyVariantSerializer(serializers.ModelSerializer):
    """A copy variant. Copy fields are templates in the sandboxed copy language (docs/copy-templates.md);
    template errors come back by field with their line."""

    id = serializers.IntegerField(required=False)

    class Meta:
        model = CopyVariant
        fields = [
            "id",
            "name",
            "is_default",
            "priority",
            "condition",
            "reengagement",
            "subject",
            "preheader",
            "opening",
            "body",
            "cta_text",
            "cta_url",
        ]

    def validate(self, data):
        problems = variant_problems(data)
        if problems:
            raise serializers.ValidationError(problems)
        return data


class StepSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(required=False)
    variants = CopyVariantSerializer(many=True, required=False)

    def validate_variants(self, value):
        problems = step_variant_problems(value)
        if problems:
            raise serializers.ValidationError(problems)
        return value

    class Meta:
        model = Step
        fields = [
            "id",
            "position",
            "name",
            "delay_from",
            "delay_min_minutes",
            "delay_max_minutes",
            "preferred_start",
            "preferred_end",
            "variants",
        ]
        read_only_fields = ["position"]


class SequenceSerializer(serializers.ModelSerializer):
    steps = StepSerializer(many=True, required=False)
    segments = serializers.SlugRelatedField(
        slug_field="name", many=True, queryset=Segment.objects.all(), required=False
    )

    class Meta:
        model = Sequence
        fields = [
            "id",
            "name",
            "entry_trigger",
            "segments",
            "funnel_stage",
            "status",
            "holdout_percent",
            "exit_on_order",
            "allow_reentry",
            "reentry_after_days",
            "version",
            "steps",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["version", "created_at", "updated_at"]

    def validate_holdout_percent(self, value):
        if not 0 <= value <= 90:
            raise serializers.ValidationError("Keep between 0 and 90% as control.")
        return value

    def validate(self, data):
        if data.get("status") == Sequence.Status.ACTIVE:
            problems = activation_problems(
                steps=data.get("steps")
                if "steps" in data
                else list(self.instance.steps.prefetch_related("variants"))
                if self.instance
                else [],
                entry_trigger=data.get("entry_trigger", getattr(self.instance, "entry_trigger", "")),
            )
            if problems:
                raise serializers.ValidationError({"status": problems})
        return data

    @transaction.atomic
    def create(self, validated):
        steps, segments = validated.pop("steps", []), validated.pop("segments", [])
        sequence = Sequence.objects.create(**validated)
        sequence.segments.set(segments)
        replace_steps(sequence, steps)
        return sequence

    @transaction.atomic
    def update(self, sequence, validated):
        steps, segments = validated.pop("steps", None), validated.pop("segments", None)
        for name, value in validated.items():
            setattr(sequence, name, value)
        sequence.version += 1
        sequence.save()
        if segments is not None:
            sequence.segments.set(segments)
        if steps is not None:
            replace_steps(sequence, steps)
        return sequence


def replace_steps(sequence: Sequence, steps: list[dict]) -> None:
    """Steps given with an id are updated in place (enrolments under way keep their place in them);
    steps no longer listed are removed and their scheduled messages cancelled."""
    keep = []
    for position, data in enumerate(steps):
        data = dict(data)
        step_id = data.pop("id", None)
        variants = data.pop("variants", None)
        step = sequence.steps.filter(pk=step_id).first() if step_id else None
        if step is None:
            step = Step(sequence=sequence)
        for name, value in data.items():
            setattr(step, name, value)
        step.position = position
        step.save()
        if variants is not None:
            replace_variants(step, variants)
        keep.append(step.pk)
    for step in sequence.steps.exclude(pk__in=keep):
        remove_step(step, now=timezone.now())


def replace_variants(step: Step, variants: list[dict]) -> None:
    """Variants given with an id are updated, new ones created, unlisted ones deleted (sent messages keep the
    variant's name). Deletion and the old default go first, so the one-default constraint holds throughout."""
    listed = {data["id"] for data in variants if data.get("id")}
    step.variants.exclude(pk__in=listed).delete()
    step.variants.filter(is_default=True).update(is_default=False)
    for data in variants:
        data = dict(data)
        variant = step.variants.filter(pk=data.pop("id", None)).first() or CopyVariant(step=step)
        for name, value in data.items():
            setattr(variant, name, value)
        variant.save()


class ContactMessageSerializer(serializers.ModelSerializer):
    sequence = serializers.CharField(source="enrolment.sequence.name")
    step = serializers.CharField(source="step.name")
    step_position = serializers.IntegerField(source="step.position")
    scheduled_for = serializers.DateTimeField(source="send_at")
    skip_or_hold_reason = serializers.CharField(source="reason")

    class Meta:
        model = Message
        fields = [
            "id",
            "sequence",
            "step",
            "step_position",
            "variant",
            "status",
            "scheduled_for",
            "sent_at",
            "skip_or_hold_reason",
            "subject",
            "timing_reasons",
            "decisions",
        ]
