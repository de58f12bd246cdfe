"""Forms for the scoring and trigger settings pages: marketer-friendly fields <-> configuration JSON."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from django import forms

from sequences import conditions
from sequences.scoring_config import ACTIONS, FACTOR_LABELS, FACTORS, ConfigError, parse_config

PAIRS_HELP = "Pairs of seconds=score, e.g. 0=0, 60=10, 300=75. Between two pairs the score rises in a straight line."


def _format_pairs(points) -> str:
    return ", ".join(f"{seconds:g}={score:g}" for seconds, score in points)


def _finite(text: str) -> float:
    # float() reads "nan", "inf" and "1e400" (infinity): none of them is a score or a number of seconds.
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _parse_pairs(text: str) -> list[list[float]]:
    pairs = []
    for chunk in text.replace("\n", ",").split(","):
        chunk = chunk.strip()
        if not chunk:
            continue
        left, sep, right = chunk.partition("=")
        try:
            if not sep:
                raise ValueError
            pairs.append([_finite(left), _finite(right)])
        except ValueError:
            raise forms.ValidationError(f"“{chunk}” is not seconds=score.") from None
    if not pairs:
        raise forms.ValidationError("Give at least one seconds=score pair.")
    return pairs


def _format_table(table: dict[str, float]) -> str:
    # Highest first: PostgreSQL's JSONB keeps no key order, so the display sets one.
    return "\n".join(
        f"{name} = {score:g}" for name, score in sorted(table.items(), key=lambda item: (-item[1], item[0]))
    )


def _whole(value):
    """35.0 -> 35, so a saved version reads like the one it came from."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _whole(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_whole(item) for item in value]
    return value


def _parse_table(text: str, what: str) -> dict[str, float]:
    table = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            table[name.strip().lower()] = _finite(value)
        except ValueError:
            raise forms.ValidationError(f"Line {number}: write “{what} = score”.") from None
    return table


def _percent(label: str, **kwargs) -> forms.FloatField:
    return forms.FloatField(label=label, min_value=0, max_value=100, **kwargs)


class ScoringModelForm(forms.Form):
    """One field per knob; `config()` assembles the JSON that parse_config validates as a whole."""

    note = forms.CharField(
        max_length=200,
        required=False,
        help_text="What changed and why (kept with the version).",
        # Shown beside the what-if panel, outside the <form> element it belongs to.
        widget=forms.TextInput(attrs={"form": "scoring-form"}),
    )
    high_threshold = _percent("High intent from")
    medium_threshold = _percent("Medium intent from")
    half_life_hours = forms.FloatField(
        label="Intent half-life (hours)", min_value=0.1, help_text="The score halves every this many hours of silence."
    )
    session_time = forms.CharField(label="Session duration", help_text=PAIRS_HELP)
    product_dwell = forms.CharField(label="Time on product pages", help_text=PAIRS_HELP)
    categories = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}), help_text="One per line: category = relevance (0-100)."
    )
    default_category = _percent("Any other category")
    past_category_bonus = _percent("Bonus when seen in earlier sessions")
    unknown_stage = _percent("Stage unknown")
    context_rules = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, stages: list[tuple[str, str]] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.stages = list(stages)
        for factor in FACTORS:
            self.fields[f"weight_{factor}"] = _percent(
                FACTOR_LABELS[factor], widget=forms.NumberInput(attrs={"step": 1})
            )
        for action in ACTIONS:
            self.fields[f"depth_{action}"] = _percent(action.replace("_", " ").capitalize())
        for slug, name in self.stages:
            self.fields[f"stage_{slug}"] = _percent(name)

    @classmethod
    def initial_from(cls, config: dict[str, Any]) -> dict[str, Any]:
        initial: dict[str, Any] = {
            name: config.get(name)
            for name in ("high_threshold", "medium_threshold", "half_life_hours", "default_category")
        }
        initial.update(
            past_category_bonus=config.get("past_category_bonus"),
            unknown_stage=config.get("unknown_stage"),
            session_time=_format_pairs(config.get("session_time", [])),
            product_dwell=_format_pairs(config.get("product_dwell", [])),
            categories=_format_table(config.get("categories", {})),
            context_rules=json.dumps(config.get("context_rules", [])),
        )
        initial.update({f"weight_{f}": config.get("weights", {}).get(f) for f in FACTORS})
        initial.update({f"depth_{a}": config.get("action_depth", {}).get(a, 0) for a in ACTIONS})
        initial.update({f"stage_{slug}": value for slug, value in config.get("lifecycle", {}).items()})
        return initial

    def clean_session_time(self):
        return _parse_pairs(self.cleaned_data["session_time"])

    def clean_product_dwell(self):
        return _parse_pairs(self.cleaned_data["product_dwell"])

    def clean_categories(self):
        return _parse_table(self.cleaned_data["categories"], "category")

    def clean_context_rules(self):
        text = self.cleaned_data.get("context_rules") or "[]"
        try:
            rules = conditions.read_json(text)
        except ValueError:
            raise forms.ValidationError("The context rules could not be read.") from None
        if not isinstance(rules, list):
            raise forms.ValidationError("The context rules could not be read.")
        return rules

    def weights_total(self) -> float | None:
        values = [self.cleaned_data.get(f"weight_{f}") for f in FACTORS] if hasattr(self, "cleaned_data") else []
        return sum(values) if values and None not in values else None

    def config(self) -> dict[str, Any]:
        data = self.cleaned_data
        return _whole(
            {
                "weights": {f: data[f"weight_{f}"] for f in FACTORS},
                "session_time": data["session_time"],
                "product_dwell": data["product_dwell"],
                "action_depth": {a: data[f"depth_{a}"] for a in ACTIONS},
                "categories": data["categories"],
                "default_category": data["default_category"],
                "past_category_bonus": data["past_category_bonus"],
                "lifecycle": {slug: data[f"stage_{slug}"] for slug, _ in self.stages},
                "unknown_stage": data["unknown_stage"],
                "high_threshold": data["high_threshold"],
                "medium_threshold": data["medium_threshold"],
                "half_life_hours": data["half_life_hours"],
                "context_rules": data["context_rules"],
            }
        )

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            self.parsed = parse_config(self.config())
        except ConfigError as error:
            for message in error.errors:
                self.add_error(_field_for(message), humanize(message))
        return cleaned


def humanize(message: str) -> str:
    """Configuration paths in a marketer's words: "context_rules[2].name: …" -> "Context rule 3, name: …"."""
    message = re.sub(r"context_rules\[(\d+)\]\.?", lambda m: f"Context rule {int(m.group(1)) + 1}, ", message)
    message = message.replace("condition: rule.", "condition ").replace("condition: rule:", "condition:")
    message = message.replace("weights: ", "Weights ").replace("`", "").replace(", :", ":")
    return message[0].upper() + message[1:] if message else message


def _field_for(message: str) -> str | None:
    """Show a configuration error next to the field it is about."""
    head = message.split(":", 1)[0].split(".", 1)[0].split("[", 1)[0]
    if head == "weights":
        return None  # about the total: shown above the weights
    if head in ("session_time", "product_dwell", "categories", "context_rules", "half_life_hours", "default_category"):
        return head
    if head == "Tiers":
        return "medium_threshold"
    return None


def rule_fields() -> list[dict[str, str]]:
    """The condition language's fields and operators, for the rule builder widget."""
    return [{"name": name, "type": kind, "help": text} for name, (kind, text) in conditions.FIELDS.items()]


class TriggerSettingsForm(forms.Form):
    event_actions = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=f"One per line: Event Name = action. Actions: {', '.join(ACTIONS)}.",
    )
    cart_abandon_minutes = forms.IntegerField(min_value=1, max_value=1440, label="Cart abandoned after (minutes idle)")
    page_exit_minutes = forms.IntegerField(min_value=1, max_value=1440, label="Page exit after (minutes idle)")
    page_groups = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        help_text="Tracked page groups, one per line: Name = /path-prefix.",
    )
    long_session_minutes = forms.IntegerField(min_value=1, max_value=1440, label="Long session from (minutes)")
    lapsed_days = forms.IntegerField(min_value=1, max_value=365, label="Lapsed after (days without interaction)")

    @classmethod
    def initial_from(cls, settings) -> dict[str, Any]:
        return {
            # In funnel order (JSONB keeps no key order), then by name.
            "event_actions": "\n".join(
                f"{name} = {action}"
                for name, action in sorted(
                    settings.event_actions.items(),
                    key=lambda item: (ACTIONS.index(item[1]) if item[1] in ACTIONS else 99, item[0]),
                )
            ),
            "page_groups": "\n".join(f"{g['name']} = {g['path_prefix']}" for g in settings.page_groups),
            **{
                name: getattr(settings, name)
                for name in ("cart_abandon_minutes", "page_exit_minutes", "long_session_minutes", "lapsed_days")
            },
        }

    def clean_event_actions(self) -> dict[str, str]:
        mapping = {}
        for number, line in enumerate(self.cleaned_data["event_actions"].splitlines(), start=1):
            if not line.strip():
                continue
            name, sep, action = (part.strip() for part in line.rpartition("="))
            if not sep or not name:
                raise forms.ValidationError(f"Line {number}: write “Event Name = action”.")
            if action not in ACTIONS:
                raise forms.ValidationError(
                    f"Line {number}: “{action}” is not an action; use one of {', '.join(ACTIONS)}."
                )
            mapping[name] = action
        if not mapping:
            raise forms.ValidationError("Map at least one event name to an action.")
        return mapping

    def clean_page_groups(self) -> list[dict[str, str]]:
        groups = []
        for number, line in enumerate(self.cleaned_data["page_groups"].splitlines(), start=1):
            if not line.strip():
                continue
            name, sep, prefix = (part.strip() for part in line.partition("="))
            if not sep or not name or not prefix.startswith("/"):
                raise forms.ValidationError(f"Line {number}: write “Name = /path-prefix”.")
            groups.append({"name": name, "path_prefix": prefix})
        return groups
