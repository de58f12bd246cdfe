"""Forms for the scoring and trigger settings pages: marketer-friendly fields <-> configuration JSON."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from django import forms

from sequences import conditions
from sequences.scoring_config import (
    ACTIONS,
    DEFAULT_REPEAT_DOWNLOAD_DAYS,
    FACTOR_LABELS,
    FACTORS,
    MAX_REPEAT_DOWNLOAD_DAYS,
    SCORING_FIELD_PREFIXES,
    ConfigError,
    parse_config,
)

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
    repeat_download_days = forms.IntegerField(
        label="Repeat-download window (days)",
        min_value=1,
        max_value=MAX_REPEAT_DOWNLOAD_DAYS,
        help_text="contact.recent_downloads in a rule counts the content downloads of this many days, the new one"
        " included.",
    )
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
            repeat_download_days=config.get("repeat_download_days", DEFAULT_REPEAT_DOWNLOAD_DAYS),
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
                "repeat_download_days": data["repeat_download_days"],
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
                field, text = form_error(message, self.cleaned_data.get("context_rules") or [])
                self.add_error(field if field in self.fields else None, text)
        return cleaned

    @property
    def rule_fields(self) -> list[dict[str, str]]:
        """The fields a context rule can use: only those scoring fills (parse_config refuses the others)."""
        return rule_fields(SCORING_FIELD_PREFIXES)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


# Configuration keys whose errors belong next to the form field of the same name.
_SAME_NAME = {
    "default_category",
    "past_category_bonus",
    "unknown_stage",
    "high_threshold",
    "medium_threshold",
    "half_life_hours",
    "repeat_download_days",
    "session_time",
    "product_dwell",
    "categories",
}


def form_error(message: str, rules: list) -> tuple[str | None, str]:
    """A parse_config message as the form says it: (the form field it belongs next to, or None for the top of the
    form; the text in the form's own words). parse_config names configuration keys ("session_time[2]: …",
    "categories.electronics: …"), which the API shows as they are; a marketer sees the field's label instead."""
    path, _, text = message.partition(": ")
    key, _, rest = path.partition(".")
    if key == "weights":
        if rest:
            return f"weight_{rest}", _capital(text)
        # About the total: shown above the weights.
        return None, f"Weights {text}" if text.startswith("must") else f"Weights: {text}"
    if key == "Tiers":
        return "medium_threshold", _capital(text)
    if key in ("categories", "lifecycle", "action_depth") and rest:
        field = {"categories": "categories", "lifecycle": f"stage_{rest}", "action_depth": f"depth_{rest}"}[key]
        # One textarea holds every category, so its message names the category; the others have a field each.
        return field, f"{rest}: {text}" if key == "categories" else _capital(text)
    if key.startswith("context_rules"):
        return "context_rules", _rule_error(key, rest, text, rules)
    pair = re.fullmatch(r"(session_time|product_dwell)\[(\d+)\]", key)
    if pair:
        return pair.group(1), f"Pair {int(pair.group(2)) + 1}: {text}"
    if key in _SAME_NAME:
        return key, _capital(text)
    return None, _capital(message)


_RULE_PARTS = {"name": "name", "adjust": "points to add", "cap": "cap"}


def _rule_error(key: str, part: str, text: str, rules: list) -> str:
    """ "context_rules[1].condition: rule.all[0].field: …" -> "Rule 2 (its name), condition 1: …": conditions
    numbered as the rule builder lists them (a "none of" group's `not` is not a level of its own)."""
    index = re.search(r"\[(\d+)\]", key)
    if index is None:
        return _capital(text)
    number = int(index.group(1))
    name = rules[number].get("name") if number < len(rules) and isinstance(rules[number], dict) else None
    where = f"Rule {number + 1}" + (f" ({name.strip()})" if isinstance(name, str) and name.strip() else "")
    text = text.replace("set `adjust` or `cap`", "add points or cap the score").replace("`", "")
    if part == "condition":
        inner, sep, detail = text.partition(": ")
        if sep and inner.startswith("rule"):
            steps = [str(int(n) + 1) for n in re.findall(r"\[(\d+)\]", inner)]
            return f"{where}, condition{' ' + '.'.join(steps) if steps else ''}: {detail}"
    if part in _RULE_PARTS:
        return f"{where}, {_RULE_PARTS[part]}: {text}"
    return f"{where}: {text}"


def rule_fields(prefixes: tuple[str, ...] | None = None) -> list[dict[str, str]]:
    """The condition language's fields for the rule builder widget; only those starting with `prefixes` if given."""
    return [
        {"name": name, "type": kind, "help": text}
        for name, (kind, text) in conditions.FIELDS.items()
        if prefixes is None or name.startswith(prefixes)
    ]


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
