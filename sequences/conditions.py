"""The one condition language of triggerapp (pure): segments, context rules, suppression, copy variants.

A rule is JSON:

    {"all": [rule, ...]}      every sub-rule holds (an empty list holds)
    {"any": [rule, ...]}      at least one holds (an empty list does not)
    {"not": rule}             the sub-rule does not hold
    {"field": "session.duration_seconds", "op": "gt", "value": 300}

Fields are dotted paths into a documented fact context (see FIELDS). Under a prefix ending in ".*"
(e.g. `event.properties.*`, `contact.traits.*`) any sub-path is allowed, since those hold the site's own data.
`evaluate` never raises on a rule `validate` accepted: a missing fact simply makes a comparison false
(and is said so in the trace).
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

# field -> (type, description). Types: number, text, list, datetime, bool, any.
FIELDS: dict[str, tuple[str, str]] = {
    "trigger.type": ("text", "cart_abandoned, content_downloaded, page_exit, form_submitted, long_session, lapsed"),
    "trigger.occurred_at": ("datetime", "When the trigger fired"),
    "trigger.category": ("text", "Product or content category of the trigger"),
    "trigger.session_minutes": ("number", "Length of the session that triggered, in minutes"),
    "trigger.cart_id": ("text", "The abandoned cart"),
    "trigger.content": ("text", "The content downloaded"),
    "event.name": ("text", "Name of the event being scored, e.g. Product Added"),
    "event.action": ("text", "Funnel action the event maps to, e.g. cart_viewed"),
    "event.properties.*": ("any", "Any property the site sent with the event"),
    "session.duration_seconds": ("number", "Seconds from the session's first to its last event"),
    "session.page_views": ("number", "Page and screen views in the session"),
    "session.product_views": ("number", "Product Viewed events in the session"),
    "session.product_dwell_seconds": ("number", "Seconds spent on product pages in the session"),
    "session.deepest_action": ("text", "Deepest funnel action in the session"),
    "session.categories": ("list", "Product categories seen in the session"),
    "session.category": ("text", "The session's main product category"),
    "session.converted": ("bool", "An order was completed in the session"),
    "session.last_event_at": ("datetime", "Time of the session's last event"),
    "contact.lifecycle_stage": ("text", "CRM lifecycle stage"),
    "contact.email": ("text", "Email address (empty when unknown)"),
    "contact.time_zone": ("text", "IANA time zone"),
    "contact.past_categories": ("list", "Product categories seen in earlier sessions"),
    "contact.recent_downloads": (
        "number",
        "Content downloads within the repeat-download window (a scoring setting, 14 days by default), this one"
        " included; counted when a download arrives",
    ),
    "contact.last_seen_at": ("datetime", "Last activity"),
    "contact.traits.*": ("any", "Any trait the site sent with identify"),
    "product.name": ("text", "The product last viewed or left in the cart"),
    "product.category": ("text", "Its category, e.g. electronics"),
    "product.price": ("number", "Its price"),
    "product.variant": ("text", "The chosen variant or size"),
    "score.value": ("number", "Intent score 0-100"),
    "score.tier": ("text", "high, medium or low"),
}

# Fields that were renamed: a rule still using the old name is told the new one rather than "unknown field".
RENAMED_FIELDS = {"contact.downloads_last_14_days": "contact.recent_downloads"}

COMPARISONS = {"eq", "ne", "gt", "gte", "lt", "lte"}
OPERATORS = COMPARISONS | {"in", "not_in", "contains", "exists", "within_last"}
UNITS = {"minutes": 60, "hours": 3600, "days": 86400}
MAX_DEPTH = 12
MAX_NODES = 200


class Missing:
    """The value of a fact the context does not have."""

    def __repr__(self) -> str:
        return "missing"


MISSING = Missing()


@dataclass(frozen=True, slots=True)
class TraceLine:
    depth: int
    text: str
    result: bool
    # What the line is, for deciding_facts: a group ("all", "any", "not"), or a comparison's parts as evaluated.
    group: str = ""
    field: str = ""
    op: str = ""
    value: Any = None
    actual: Any = None


@dataclass(frozen=True, slots=True)
class Verdict:
    result: bool
    trace: tuple[TraceLine, ...]

    def explain(self) -> str:
        return "\n".join(f"{'  ' * line.depth}{'✓' if line.result else '✗'} {line.text}" for line in self.trace)


# --- validation -----------------------------------------------------------------------------------------------


def field_known(path: str) -> bool:
    if path in FIELDS:
        return True
    return any(key.endswith(".*") and path.startswith(key[:-1]) and len(path) > len(key) - 1 for key in FIELDS)


def read_json(text: str) -> Any:
    """A rule as the rule builder posts it (JSON text). ValueError if it is not JSON, nesting deeper than Python's
    stack included (json raises RecursionError for that, which a form would otherwise let through as a 500)."""
    try:
        return json.loads(text, parse_float=_finite, parse_constant=_not_a_number)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _finite(text: str) -> float:
    value = float(text)  # "1e400" reads as infinity, which no database column takes
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large a number")
    return value


def _not_a_number(text: str):
    raise ValueError(f"{text} is not a number JSON knows")


@dataclass(frozen=True, slots=True)
class _Allowed:
    prefixes: tuple[str, ...] | None
    context: str


def validate(rule: Any, *, prefixes: Collection[str] | None = None, context: str = "here") -> list[str]:
    """Every problem with `rule`, each message naming where it is (e.g. `all[1].op`). Empty means valid.

    `prefixes` (e.g. "event.", "session.") limits the fields to those its user fills: a rule on a field that is
    never filled there would be accepted and silently never hold. `context` says where, for the message
    ("product.price is not known when scoring")."""
    errors: list[str] = []
    count = [0]
    allowed = _Allowed(tuple(prefixes) if prefixes is not None else None, context)
    _validate(rule, "rule", 0, errors, count, allowed)
    if count[0] > MAX_NODES:
        errors.append(f"rule: more than {MAX_NODES} conditions; split it up.")
    return errors


def _listing(prefixes: tuple[str, ...]) -> str:
    names = [f"{prefix.rstrip('.')}.*" for prefix in prefixes]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _field_problem(field: Any, allowed: _Allowed) -> str | None:
    if isinstance(field, str) and field in RENAMED_FIELDS:
        return f"{field} is now called {RENAMED_FIELDS[field]}."
    if not isinstance(field, str) or not field_known(field):
        return f"unknown field {field!r}."
    if allowed.prefixes is not None and not field.startswith(allowed.prefixes):
        return f"{field} is not known {allowed.context}; use {_listing(allowed.prefixes)}."
    return None


def _validate(rule: Any, where: str, depth: int, errors: list[str], count: list[int], allowed: _Allowed) -> None:
    count[0] += 1
    if depth > MAX_DEPTH:
        errors.append(f"{where}: nested more than {MAX_DEPTH} levels deep.")
        return
    if not isinstance(rule, Mapping):
        errors.append(f"{where}: a condition must be an object, not {type(rule).__name__}.")
        return
    groups = [key for key in ("all", "any", "not") if key in rule]
    if groups:
        if len(rule) != 1:
            errors.append(f"{where}: `{groups[0]}` cannot be combined with other keys ({', '.join(sorted(rule))}).")
            return
        key = groups[0]
        if key == "not":
            _validate(rule["not"], f"{where}.not", depth + 1, errors, count, allowed)
            return
        children = rule[key]
        if not isinstance(children, list):
            errors.append(f"{where}.{key}: must be a list of conditions.")
            return
        for index, child in enumerate(children):
            _validate(child, f"{where}.{key}[{index}]", depth + 1, errors, count, allowed)
        return
    unknown = set(rule) - {"field", "op", "value"}
    if unknown:
        errors.append(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; use field, op and value.")
    field, op = rule.get("field"), rule.get("op")
    if problem := _field_problem(field, allowed):
        errors.append(f"{where}.field: {problem}")
    if not isinstance(op, str) or op not in OPERATORS:
        errors.append(f"{where}.op: unknown operator {op!r}; use one of {', '.join(sorted(OPERATORS))}.")
        return
    value = rule.get("value", MISSING)
    if op == "exists":
        if value is not MISSING and not isinstance(value, bool):
            errors.append(f"{where}.value: `exists` takes true or false (or no value).")
    elif value is MISSING:
        errors.append(f"{where}.value: `{op}` needs a value.")
    elif op in ("in", "not_in"):
        if not isinstance(value, list):
            errors.append(f"{where}.value: `{op}` needs a list.")
    elif op == "within_last":
        if not (
            isinstance(value, Mapping)
            and set(value) == {"amount", "unit"}
            and isinstance(value["amount"], (int, float))
            and not isinstance(value["amount"], bool)
            and value["amount"] >= 0
            and isinstance(value["unit"], str)
            and value["unit"] in UNITS
        ):
            errors.append(f'{where}.value: `within_last` needs {{"amount": N, "unit": "minutes|hours|days"}}.')
    elif op in ("gt", "gte", "lt", "lte") and not (
        isinstance(value, (int, float, str)) and not isinstance(value, bool)
    ):
        errors.append(f"{where}.value: `{op}` compares with a number (or a date as text).")


# --- evaluation -----------------------------------------------------------------------------------------------


def lookup(facts: Mapping[str, Any], path: str) -> Any:
    """Facts are nested mappings; `session.duration_seconds` reads facts["session"]["duration_seconds"]."""
    current: Any = facts
    for part in path.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        else:
            return MISSING
    return current


def evaluate(rule: Mapping[str, Any], facts: Mapping[str, Any], *, now: datetime | None = None) -> Verdict:
    trace: list[TraceLine] = []
    result = _evaluate(rule, facts, now, 0, trace)
    return Verdict(result, tuple(trace))


def holds(rule: Mapping[str, Any], facts: Mapping[str, Any], *, now: datetime | None = None) -> bool:
    """`evaluate(...).result` without the trace, stopping at the first deciding child: for scoring on ingest,
    which needs the verdict for every event and the explanation only when someone reads it."""
    if "all" in rule:
        return all(holds(child, facts, now=now) for child in rule["all"])
    if "any" in rule:
        return any(holds(child, facts, now=now) for child in rule["any"])
    if "not" in rule:
        return not holds(rule["not"], facts, now=now)
    return _compare(rule["op"], lookup(facts, rule["field"]), rule.get("value", MISSING), now)


def _evaluate(rule: Mapping[str, Any], facts: Mapping[str, Any], now, depth: int, trace: list[TraceLine]) -> bool:
    if "all" in rule or "any" in rule:
        key = "all" if "all" in rule else "any"
        position = len(trace)
        trace.append(TraceLine(depth, key, False))
        results = [_evaluate(child, facts, now, depth + 1, trace) for child in rule[key]]
        result = all(results) if key == "all" else any(results)
        label = "all of" if key == "all" else "any of"
        trace[position] = TraceLine(depth, f"{label} ({sum(results)} of {len(results)} hold)", result, group=key)
        return result
    if "not" in rule:
        position = len(trace)
        trace.append(TraceLine(depth, "not", False))
        result = not _evaluate(rule["not"], facts, now, depth + 1, trace)
        trace[position] = TraceLine(depth, "not", result, group="not")
        return result
    field, op, value = rule["field"], rule["op"], rule.get("value", MISSING)
    actual = lookup(facts, field)
    result = _compare(op, actual, value, now)
    text = f"{field} {_describe(op, value)} (is {_show(actual)})"
    trace.append(TraceLine(depth, text, result, field=field, op=op, value=value, actual=actual))
    return result


def _compare(op: str, actual: Any, value: Any, now: datetime | None) -> bool:
    if op == "exists":
        present = actual is not MISSING and actual is not None and actual != ""
        return present if value is MISSING or value else not present
    if actual is MISSING or actual is None:
        return op in ("ne", "not_in")
    try:
        if op == "eq":
            return _same(actual, value)
        if op == "ne":
            return not _same(actual, value)
        if op == "in":
            return any(_same(actual, item) for item in value)
        if op == "not_in":
            return not any(_same(actual, item) for item in value)
        if op == "contains":
            if isinstance(actual, str):
                return isinstance(value, str) and value.lower() in actual.lower()
            if isinstance(actual, (list, tuple, set, frozenset)):
                return any(_same(item, value) for item in actual)
            return False
        if op == "within_last":
            moment = _as_datetime(actual)
            if moment is None or now is None:
                return False
            window = timedelta(seconds=value["amount"] * UNITS[value["unit"]])
            return now - window <= moment <= now
        left, right = _orderable(actual, value)
        if left is None:
            return False
        return {"gt": left > right, "gte": left >= right, "lt": left < right, "lte": left <= right}[op]
    except (TypeError, ValueError, OverflowError):
        return False


def _same(left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right
    if isinstance(left, str) and isinstance(right, str):
        return left.casefold() == right.casefold()
    # Sites send numbers as text and marketers type them as numbers (or the reverse): "249" is 249.
    numbers = _as_number(left), _as_number(right)
    if None not in numbers:
        return numbers[0] == numbers[1]
    return left == right


def _as_number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _orderable(actual: Any, value: Any) -> tuple[Any, Any]:
    if isinstance(actual, bool) or isinstance(value, bool):
        return None, None
    if isinstance(actual, (int, float)) and isinstance(value, (int, float)):
        return float(actual), float(value)
    left, right = _as_number(actual), _as_number(value)
    if left is not None and right is not None:
        return left, right
    moment, bound = _as_datetime(actual), _as_datetime(value)
    if moment is not None and bound is not None:
        return moment, bound
    return None, None


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else None
    return None


def _describe(op: str, value: Any) -> str:
    symbols = {"eq": "=", "ne": "≠", "gt": ">", "gte": "≥", "lt": "<", "lte": "≤"}
    if op in symbols:
        return f"{symbols[op]} {_show(value)}"
    if op == "within_last":
        return f"within the last {value['amount']} {value['unit']}"
    if op == "exists":
        return "exists" if value is MISSING or value else "does not exist"
    return f"{op.replace('_', ' ')} {_show(value)}"


def _show(value: Any) -> str:
    if value is MISSING:
        return "missing"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."
