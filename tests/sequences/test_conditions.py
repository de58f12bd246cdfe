"""The condition language: validation with clear messages, evaluation with a trace, never a crash."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sequences.condition_reasons import deciding_facts
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


def test_a_user_of_the_language_can_limit_the_fields_to_those_it_fills():
    rule = {"any": [{"field": "product.price", "op": "gt", "value": 0}, {"field": "event.name", "op": "exists"}]}

    assert validate(rule) == []  # by default every field is allowed, as segments and copy variants need
    assert validate(rule, prefixes=("event.", "session."), context="when scoring") == [
        "rule.any[0].field: product.price is not known when scoring; use event.* or session.*."
    ]


def test_a_renamed_field_is_named_in_the_message():
    assert validate({"field": "contact.downloads_last_14_days", "op": "gte", "value": 2}) == [
        "rule.field: contact.downloads_last_14_days is now called contact.recent_downloads."
    ]


@pytest.mark.parametrize(
    ("rule", "facts"),
    [
        (
            {"all": [{"field": "session.duration_seconds", "op": "gt", "value": 300}]},
            ["session.duration_seconds = 400 (> 300)"],
        ),
        (
            {
                "any": [
                    {"field": "session.converted", "op": "eq", "value": True},
                    {"field": "contact.lifecycle_stage", "op": "in", "value": ["mql", "sql"]},
                ]
            },
            ["contact.lifecycle_stage = mql (one of mql, sql)"],
        ),
        (
            {"not": {"field": "event.properties.category", "op": "contains", "value": "toys"}},
            ["event.properties.category = Electronics (not contains toys)"],
        ),
        (
            {"field": "contact.last_seen_at", "op": "within_last", "value": {"amount": 3, "unit": "hours"}},
            ["contact.last_seen_at = 2026-11-29T10:00+00:00 (within the last 3 hours)"],
        ),
        ({"field": "contact.traits.company", "op": "exists", "value": False}, ["contact.traits.company is missing"]),
        (
            {"field": "session.categories", "op": "contains", "value": "books"},
            ["session.categories = [electronics, books] (contains books)"],
        ),
        ({"all": []}, []),
    ],
)
def test_deciding_facts_name_what_made_a_rule_hold(rule, facts):
    verdict = evaluate(rule, FACTS, now=NOW)

    assert verdict.result is True
    assert deciding_facts(verdict) == facts


def test_deciding_facts_of_a_long_rule_stay_short():
    rule = {"all": [{"field": "session.duration_seconds", "op": "gt", "value": n} for n in range(10)]}

    assert deciding_facts(evaluate(rule, FACTS), limit=3)[-1] == "7 more"


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


@given(rule=rules, facts=fact_contexts)
def test_every_rule_that_holds_can_say_why(rule, facts):
    if validate(rule) == []:
        verdict = evaluate(rule, facts, now=NOW)
        reasons = deciding_facts(verdict)
        assert all(isinstance(reason, str) and reason for reason in reasons)
