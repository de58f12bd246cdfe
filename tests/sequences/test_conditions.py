"""The condition language: validation with clear messages, evaluation with a trace, never a crash."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sequences.conditions import FIELDS, OPERATORS, evaluate, holds, validate

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
FACTS = {
    "trigger": {"type": "cart_abandoned"},
    "session": {"duration_seconds": 400, "categories": ["electronics", "books"], "converted": False},
    "event": {"properties": {"category": "Electronics", "price": "249.0"}},
    "contact": {"lifecycle_stage": "mql", "last_seen_at": NOW - timedelta(hours=2), "traits": {"plan": "pro"}},
}

DOCUMENT_RULE = {
    "all": [
        {"field": "trigger.type", "op": "eq", "value": "cart_abandoned"},
        {"field": "session.duration_seconds", "op": "gt", "value": 300},
        {"field": "event.properties.category", "op": "eq", "value": "electronics"},
    ]
}


def test_the_documents_example_rule_holds_and_says_why():
    verdict = evaluate(DOCUMENT_RULE, FACTS, now=NOW)

    assert verdict.result is True
    assert "all of (3 of 3 hold)" in verdict.explain()
    assert "session.duration_seconds > 300 (is 400)" in verdict.explain()


def test_a_failing_leaf_is_marked_in_the_trace():
    verdict = evaluate(
        {"all": [*DOCUMENT_RULE["all"], {"field": "contact.lifecycle_stage", "op": "eq", "value": "sql"}]}, FACTS
    )

    assert verdict.result is False
    assert "✗ contact.lifecycle_stage = 'sql' (is 'mql')" in verdict.explain()


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"field": "session.duration_seconds", "op": "gte", "value": 400}, True),
        ({"field": "session.duration_seconds", "op": "lt", "value": 400}, False),
        ({"field": "event.properties.price", "op": "lte", "value": 300}, True),  # numeric text compares as a number
        ({"field": "contact.lifecycle_stage", "op": "in", "value": ["mql", "sql"]}, True),
        ({"field": "contact.lifecycle_stage", "op": "not_in", "value": ["mql"]}, False),
        ({"field": "session.categories", "op": "contains", "value": "books"}, True),
        ({"field": "contact.traits.plan", "op": "ne", "value": "free"}, True),
        ({"field": "contact.traits.company", "op": "exists"}, False),
        ({"field": "contact.traits.company", "op": "exists", "value": False}, True),
        ({"field": "contact.last_seen_at", "op": "within_last", "value": {"amount": 3, "unit": "hours"}}, True),
        ({"field": "contact.last_seen_at", "op": "within_last", "value": {"amount": 90, "unit": "minutes"}}, False),
        ({"any": []}, False),
        ({"all": []}, True),
        ({"not": {"field": "session.converted", "op": "eq", "value": True}}, True),
        ({"field": "contact.traits.missing", "op": "gt", "value": 3}, False),
    ],
)
def test_operators(rule, expected):
    assert validate(rule) == []
    assert evaluate(rule, FACTS, now=NOW).result is expected


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"field": "session.nope", "op": "eq", "value": 1}, "rule.field: unknown field 'session.nope'"),
        ({"field": "session.duration_seconds", "op": "bigger", "value": 1}, "rule.op: unknown operator 'bigger'"),
        ({"all": [{"field": "trigger.type", "op": "in", "value": "x"}]}, "rule.all[0].value: `in` needs a list"),
        ({"field": "trigger.type", "op": "eq"}, "`eq` needs a value"),
        ({"all": {"field": "trigger.type"}}, "rule.all: must be a list"),
        ({"all": [], "any": []}, "cannot be combined"),
        ("cart", "must be an object"),
        ({"field": "contact.last_seen_at", "op": "within_last", "value": 3}, "within_last"),
        ({"field": "trigger.type", "op": "eq", "value": 1, "extra": 2}, "unknown key(s) extra"),
    ],
)
def test_validator_names_the_problem_and_where(rule, message):
    assert any(message in error for error in validate(rule)), validate(rule)


FIELD_NAMES = [name.replace(".*", ".anything") for name in FIELDS]
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=10),
    st.lists(st.text(max_size=5), max_size=3),
    st.fixed_dictionaries({"amount": st.integers(0, 100), "unit": st.sampled_from(["minutes", "hours", "days"])}),
)
leaves = st.fixed_dictionaries(
    {"field": st.sampled_from(FIELD_NAMES), "op": st.sampled_from(sorted(OPERATORS)), "value": values}
)
rules = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.fixed_dictionaries({"all": st.lists(children, max_size=4)}),
        st.fixed_dictionaries({"any": st.lists(children, max_size=4)}),
        st.fixed_dictionaries({"not": children}),
    ),
    max_leaves=12,
)
fact_values = st.one_of(
    values, st.datetimes(timezones=st.just(UTC)), st.datetimes(), st.dictionaries(st.text(max_size=3), values)
)
fact_contexts = st.dictionaries(
    st.sampled_from(["trigger", "event", "session", "contact", "score"]),
    st.dictionaries(
        st.sampled_from(["type", "duration_seconds", "properties", "traits", "last_seen_at", "anything"]), fact_values
    ),
)


@given(rule=rules, facts=fact_contexts)
def test_the_evaluator_never_raises_on_a_rule_the_validator_accepts(rule, facts):
    if validate(rule) == []:
        verdict = evaluate(rule, facts, now=NOW)
        assert isinstance(verdict.result, bool)
        assert verdict.trace


@given(
    st.recursive(
        st.one_of(st.none(), st.integers(), st.text(max_size=5)),
        lambda c: st.one_of(
            st.lists(c, max_size=3),
            st.dictionaries(st.sampled_from(["all", "any", "not", "field", "op", "value", "x"]), c, max_size=3),
        ),
    )
)
def test_the_validator_never_raises_on_any_json(data):
    assert isinstance(validate(data), list)


@given(rule=rules, facts=fact_contexts)
def test_not_inverts_any_valid_rule(rule, facts):
    if validate(rule) == []:
        assert evaluate({"not": rule}, facts, now=NOW).result is not evaluate(rule, facts, now=NOW).result


@given(rule=rules, facts=fact_contexts)
def test_the_quick_verdict_agrees_with_the_traced_one(rule, facts):
    if validate(rule) == []:
        assert holds(rule, facts, now=NOW) is evaluate(rule, facts, now=NOW).result
