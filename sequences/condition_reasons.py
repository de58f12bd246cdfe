"""Why a condition held, in a marketer's words (pure): the facts that decided an evaluated rule's verdict.

Kept apart from conditions.py, which evaluates: this only reads the trace `conditions.evaluate` leaves, so
callers that need just the verdict (scoring every event with `conditions.holds`) pay nothing for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sequences.conditions import MISSING, TraceLine, Verdict


def deciding_facts(verdict: Verdict, *, limit: int = 6) -> list[str]:
    """The facts that decided a verdict, as a person reads them: "contact.recent_downloads = 3 (≥ 2)".

    Under an `all` that held every comparison decided it; under an `any` that held, those that held; under a
    `not`, the comparisons that failed ("event.properties.content_type = guide (not = blog)"). At most `limit`,
    then how many more, so a long rule still gives a readable line."""
    if not verdict.trace:
        return []
    found: list[str] = []
    _decided(_tree(verdict.trace), found)
    return found if len(found) <= limit else [*found[:limit], f"{len(found) - limit} more"]


def _tree(trace: tuple[TraceLine, ...]) -> tuple[TraceLine, list]:
    """The trace (pre-order, with depths) back into (line, children) nodes."""
    top: list = []
    open_nodes: list[tuple[int, list]] = [(-1, top)]
    for line in trace:
        node = (line, [])
        while open_nodes[-1][0] >= line.depth:
            open_nodes.pop()
        open_nodes[-1][1].append(node)
        open_nodes.append((line.depth, node[1]))
    return top[0]


def _decided(node: tuple[TraceLine, list], found: list[str]) -> None:
    line, children = node
    if not line.group:
        found.append(_fact(line))
        return
    # A `not` is decided by its child's outcome; a group by the children whose outcome is the group's own
    # (all of them when an `all` held or an `any` failed).
    for child in children:
        if line.group == "not" or child[0].result == line.result:
            _decided(child, found)


def _fact(line: TraceLine) -> str:
    """A comparison as read; a failed one (deciding under a `not`) says which test it failed."""
    if line.actual is MISSING or line.actual is None:
        return f"{line.field} is missing"
    if line.op == "exists" and line.actual == "":
        return f"{line.field} is empty"
    read = f"{line.field} = {_plain(line.actual)}"
    if not line.result:
        return f"{read} (not {_test(line.op, line.value)})"
    return read if line.op in ("eq", "exists") else f"{read} ({_test(line.op, line.value)})"


def _test(op: str, value: Any) -> str:
    symbols = {"eq": "=", "ne": "≠", "gt": ">", "gte": "≥", "lt": "<", "lte": "≤"}
    if op in symbols:
        return f"{symbols[op]} {_plain(value)}"
    if op in ("in", "not_in"):
        items = ", ".join(_plain(item) for item in value) if isinstance(value, list) else _plain(value)
        return f"{'one' if op == 'in' else 'none'} of {items}"
    if op == "within_last" and isinstance(value, Mapping):
        return f"within the last {_plain(value.get('amount'))} {value.get('unit')}"
    if op == "exists":
        return "present" if value is MISSING or value else "absent"
    return f"{op.replace('_', ' ')} {_plain(value)}"


def _plain(value: Any) -> str:
    """A value as a marketer typed it: no quotes, true/false, 3 rather than 3.0."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = str(int(value)) if value.is_integer() else str(round(value, 2))
    elif isinstance(value, datetime):
        text = value.isoformat(timespec="minutes")
    elif isinstance(value, (list, tuple)):
        text = f"[{', '.join(_plain(item) for item in value)}]"
    else:
        text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."
