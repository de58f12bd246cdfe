"""Copy variant selection (pure): which of a step's variants a contact gets, and why.

Variants are tried in priority order (lower first, then by id); the first whose condition holds wins. The default
variant is tried last and always holds, so exactly one variant wins. Re-engagement variants are for contacts the
engagement-decay gate flagged (no open or click since the first email): they are tried first for those contacts
and never for anybody else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sequences import conditions


@dataclass(frozen=True, slots=True)
class VariantRule:
    id: int
    name: str
    condition: Mapping[str, Any]
    priority: int = 10
    is_default: bool = False
    reengagement: bool = False


@dataclass(frozen=True, slots=True)
class VariantChoice:
    variant: VariantRule
    trace: tuple[dict, ...]  # one entry per variant looked at: name, outcome, the rule's explanation

    @property
    def reason(self) -> str:
        return self.trace[-1]["why"] if self.trace else ""


class NoDefaultVariant(ValueError):
    """A step without a default variant cannot send (activation refuses such a sequence)."""


def trial_order(variants: Sequence[VariantRule], *, reengagement: bool) -> list[VariantRule]:
    ordinary = sorted((v for v in variants if not v.is_default), key=lambda v: (v.priority, v.id))
    special = [v for v in ordinary if v.reengagement]
    rest = [v for v in ordinary if not v.reengagement]
    return (special if reengagement else []) + rest


def choose_variant(
    variants: Sequence[VariantRule],
    facts: Mapping[str, Any],
    *,
    reengagement: bool = False,
    now: datetime | None = None,
) -> VariantChoice:
    defaults = [v for v in variants if v.is_default]
    if not defaults:
        raise NoDefaultVariant("this email has no default variant")
    trace: list[dict] = []
    for variant in trial_order(variants, reengagement=reengagement):
        if not variant.condition:
            verdict = conditions.Verdict(True, ())
            explanation = "no condition: everyone"
        else:
            verdict = conditions.evaluate(variant.condition, facts, now=now)
            explanation = verdict.explain()
        trace.append(
            {
                "variant": variant.name,
                "result": verdict.result,
                "why": ("won: " if verdict.result else "did not match: ") + explanation,
            }
        )
        if verdict.result:
            return VariantChoice(variant, tuple(trace))
    skipped = [v.name for v in variants if v.reengagement and not v.is_default and not reengagement]
    why = "won: the default catches everyone no other variant matched"
    if skipped:
        why += f" (re-engagement copy {', '.join(skipped)} is only for contacts who did not engage)"
    trace.append({"variant": defaults[0].name, "result": True, "why": why})
    return VariantChoice(defaults[0], tuple(trace))
