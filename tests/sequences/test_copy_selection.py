"""Copy variant selection (pure): exactly one variant wins, in priority order, re-engagement copy only when asked."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sequences.copy_selection import NoDefaultVariant, VariantRule, choose_variant

HOLDS = {"field": "score.value", "op": "gte", "value": 0}
FAILS = {"field": "score.value", "op": "lt", "value": 0}
FACTS = {"score": {"value": 50, "tier": "medium"}, "trigger": {"type": "cart_abandoned"}}

variant_lists = st.lists(
    st.tuples(st.integers(0, 20), st.booleans(), st.booleans()),  # priority, condition holds, re-engagement
    max_size=8,
).map(
    lambda specs: (
        [
            VariantRule(id=i + 1, name=f"v{i + 1}", condition=HOLDS if holds else FAILS, priority=p, reengagement=re)
            for i, (p, holds, re) in enumerate(specs)
        ]
        + [VariantRule(id=100, name="Default", condition={}, is_default=True)]
    )
)


@given(variant_lists, st.booleans())
def test_exactly_one_variant_wins_and_it_is_the_first_that_holds(variants, reengagement):
    choice = choose_variant(variants, FACTS, reengagement=reengagement)

    ordinary = sorted((v for v in variants if not v.is_default), key=lambda v: (v.priority, v.id))
    candidates = [v for v in ordinary if v.reengagement] if reengagement else []
    candidates += [v for v in ordinary if not v.reengagement]
    expected = next((v for v in candidates if v.condition is HOLDS), variants[-1])
    assert choice.variant == expected
    assert [line["result"] for line in choice.trace].count(True) == 1  # one winner, and the trace ends with it
    assert choice.trace[-1]["variant"] == expected.name


@given(variant_lists)
def test_re_engagement_copy_never_reaches_a_contact_who_engaged(variants):
    assert not choose_variant(variants, FACTS, reengagement=False).variant.reengagement


def test_priorities_decide_between_two_variants_that_both_hold():
    low = VariantRule(id=1, name="second", condition=HOLDS, priority=5)
    high = VariantRule(id=2, name="first", condition=HOLDS, priority=1)
    default = VariantRule(id=3, name="Default", condition={}, is_default=True)

    choice = choose_variant([low, high, default], FACTS)

    assert choice.variant.name == "first"
    assert choice.trace[0]["why"].startswith("won: ✓ score.value ≥ 0")


def test_the_trace_says_why_the_others_did_not_match():
    picky = VariantRule(id=1, name="Big spenders", condition={"field": "score.value", "op": "gt", "value": 90})
    default = VariantRule(id=2, name="Default", condition={}, is_default=True)

    choice = choose_variant([picky, default], FACTS)

    assert choice.variant.name == "Default"
    assert choice.trace[0] == {
        "variant": "Big spenders",
        "result": False,
        "why": "did not match: ✗ score.value > 90 (is 50)",
    }


def test_a_step_without_a_default_cannot_choose():
    with pytest.raises(NoDefaultVariant):
        choose_variant([VariantRule(id=1, name="only", condition=HOLDS)], FACTS)
