"""Checks a copy variant before it is saved (pure): template problems by field, with line numbers, and a
condition the language accepts. The form and the API both use it, so a marketer sees the same words in both."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sequences import conditions
from sequences.copy_context import COPY_SCHEMA
from sequences.copy_templates import check_copy_template

TEMPLATE_FIELDS = ("subject", "preheader", "opening", "body", "cta_text", "cta_url")


def template_problems(source: str) -> list[str]:
    return [
        f"Line {problem.line}: {problem.message}" if problem.line else problem.message
        for problem in check_copy_template(source or "", schema=COPY_SCHEMA)
    ]


def variant_problems(data: Mapping[str, Any]) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    for field in TEMPLATE_FIELDS:
        if found := template_problems(data.get(field) or ""):
            problems[field] = found
    condition = data.get("condition") if not data.get("is_default") else None
    if condition and (found := conditions.validate(condition)):
        problems["condition"] = found
    if data.get("is_default") and data.get("reengagement"):
        problems["reengagement"] = ["The default variant catches everyone; make a separate re-engagement variant."]
    return problems


def step_variant_problems(variants: Sequence[Mapping[str, Any]]) -> list[str]:
    """Problems of a step's variant list as a whole."""
    problems = []
    defaults = [v for v in variants if v.get("is_default")]
    if variants and len(defaults) != 1:
        problems.append(f"A step has exactly one default variant (this one has {len(defaults)}).")
    names = [v.get("name", "") for v in variants]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        problems.append(f"Variant names must differ within a step: {', '.join(duplicates)}.")
    return problems
