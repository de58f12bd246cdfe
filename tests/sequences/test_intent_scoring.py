"""Intent scoring: the document's worked examples, an explanation that adds up, and its invariants."""

import copy
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sequences.conditions import FIELDS, MISSING, lookup
from sequences.intent_scoring import ScoringFacts, factor_sub_scores, score_intent
from sequences.scoring_config import (
    ACTIONS,
    DEFAULT_CONFIG_JSON,
    SCORING_FIELD_PREFIXES,
    ConfigError,
    default_config,
    parse_config,
)

NOW = datetime(2026, 11, 29, 15, 15, tzinfo=UTC)
CONFIG = default_config()
# The document's DTC brand: a customer shopping electronics.
SHOPPER = ScoringFacts(lifecycle_stage="customer", categories=("electronics",), session_last_event_at=NOW)


def score(**facts):
    return score_intent(replace(SHOPPER, **facts), CONFIG, now=NOW)


def test_cart_viewed_scores_about_60():
    result = score(session_duration_seconds=70, actions=frozenset({"page_view", "product_viewed", "cart_viewed"}))

    assert result.value == pytest.approx(60, abs=3)


def test_cart_abandoned_after_a_session_over_5_minutes_scores_about_90():
    result = score(
        session_duration_seconds=330,
        actions=frozenset({"product_viewed", "product_added", "checkout_started"}),
    )

    assert result.value == pytest.approx(90, abs=3)
    assert result.tier == "high"


def test_dtc_case_study_deep_researcher_scores_about_94_and_casual_browser_about_52():
    researcher = score(
        session_duration_seconds=380,  # session > 6 min
        product_dwell_seconds=320,  # > 5 min of product views
        actions=frozenset({"product_viewed", "product_added", "checkout_started"}),
    )
    browser = score(session_duration_seconds=60, product_dwell_seconds=40, actions=frozenset({"product_viewed"}))

    assert researcher.value == pytest.approx(94, abs=3)
    assert researcher.tier == "high"
    assert browser.value == pytest.approx(52, abs=3)
    assert browser.tier != "high"


def test_the_explanation_lists_each_factor_and_adds_up_to_the_score():
    result = score(session_duration_seconds=330, actions=frozenset({"product_added"}))

    assert [line.factor for line in result.lines] == [
        "Time spent",
        "Action depth",
        "Product-category relevance",
        "Lifecycle stage",
    ]
    assert [line.weight for line in result.lines] == [30, 25, 25, 20]
    assert sum(line.contribution for line in result.lines) == pytest.approx(result.value, abs=0.05)
    assert result.lines[1].reason == "deepest action: product added"
    assert result.lines[0].reason == "session of 5.5 min"


def test_intent_fades_with_a_half_life_shown_as_its_own_line():
    fresh = score(session_duration_seconds=330, actions=frozenset({"checkout_started"}))
    a_day_later = score_intent(
        replace(SHOPPER, session_duration_seconds=330, actions=frozenset({"checkout_started"})),
        CONFIG,
        now=NOW + timedelta(hours=24),
    )

    assert a_day_later.value == pytest.approx(fresh.value / 2, abs=0.1)
    assert a_day_later.lines[-1].factor == "Decay"
    assert sum(line.contribution for line in a_day_later.lines) == pytest.approx(a_day_later.value, abs=0.05)


def test_a_blog_download_by_a_mid_funnel_contact_counts_as_low_intent():
    result = score(
        lifecycle_stage="mql",
        session_duration_seconds=400,
        actions=frozenset({"content_downloaded"}),
        event_action="content_downloaded",
        event_properties={"content_type": "blog"},
    )

    assert result.tier == "low"
    assert any(line.factor.startswith("Context: Blog download") for line in result.lines)


def test_a_repeat_download_counts_higher_and_the_explanation_says_why():
    once = score(actions=frozenset({"content_downloaded"}), event_action="content_downloaded", recent_downloads=1)
    again = score(actions=frozenset({"content_downloaded"}), event_action="content_downloaded", recent_downloads=3)

    assert again.value == pytest.approx(once.value + 10, abs=0.05)
    assert again.lines[-1].factor == "Context: Repeat download signals higher intent"
    assert again.lines[-1].reason == (
        "+10 points: event.action = content_downloaded, contact.recent_downloads = 3 (≥ 2)"
    )


def test_a_cap_says_which_facts_made_it_apply():
    result = score(
        lifecycle_stage="sql",
        session_duration_seconds=400,
        actions=frozenset({"content_downloaded"}),
        event_action="content_downloaded",
        event_properties={"content_type": "blog"},
    )

    assert result.lines[-1].reason == (
        "capped at 45: event.action = content_downloaded, event.properties.content_type = blog,"
        " contact.lifecycle_stage = sql (one of mql, sql, opportunity)"
    )
    assert sum(line.contribution for line in result.lines) == pytest.approx(result.value, abs=0.05)


def test_a_rule_on_a_missing_or_negated_fact_names_it():
    data = copy.deepcopy(DEFAULT_CONFIG_JSON)
    data["context_rules"] = [
        {
            "name": "Not yet a customer, no email",
            "condition": {
                "any": [
                    {"field": "contact.email", "op": "exists", "value": False},
                    {"field": "session.converted", "op": "eq", "value": True},
                ]
            },
            "adjust": -5,
        },
        {
            "name": "Not a blog",
            "condition": {"not": {"field": "event.properties.content_type", "op": "eq", "value": "blog"}},
            "adjust": 5,
        },
    ]
    facts = replace(SHOPPER, event_properties={"content_type": "guide"}, session_duration_seconds=120)

    lines = score_intent(facts, parse_config(data), now=NOW).lines

    assert [line.reason for line in lines[-2:]] == [
        "-5 points: contact.email is missing",
        "+5 points: event.properties.content_type = guide (not = blog)",
    ]


def test_the_repeat_download_window_is_a_setting_of_whole_days():
    data = copy.deepcopy(DEFAULT_CONFIG_JSON)
    assert parse_config(data).repeat_download_days == 14
    data["repeat_download_days"] = 30
    assert parse_config(data).repeat_download_days == 30
    del data["repeat_download_days"]  # saved before it was a setting: the 14 days it always was
    assert parse_config(data).repeat_download_days == 14

    for wrong in (0, 2.5, 366, "14", None, True):
        data["repeat_download_days"] = wrong
        with pytest.raises(ConfigError) as error:
            parse_config(data)
        assert error.value.errors == ["repeat_download_days: must be a whole number of days from 1 to 365."]


def test_facts_stored_under_the_old_name_are_still_read():
    stored = {**replace(SHOPPER, recent_downloads=0).to_json(), "downloads_last_14_days": 4}
    del stored["recent_downloads"]

    assert ScoringFacts.from_json(stored).recent_downloads == 4


def test_context_rules_may_only_read_the_facts_scoring_fills():
    data = copy.deepcopy(DEFAULT_CONFIG_JSON)
    data["context_rules"] = [
        {"name": "Pricey", "condition": {"field": "product.price", "op": "gt", "value": 0}, "adjust": 50},
        {
            "name": "Old name",
            "condition": {"all": [{"field": "contact.downloads_last_14_days", "op": "gte", "value": 2}]},
            "adjust": 5,
        },
    ]

    with pytest.raises(ConfigError) as error:
        parse_config(data)

    assert error.value.errors == [
        "context_rules[0].condition: rule.field: product.price is not known when scoring;"
        " use event.*, session.* or contact.*.",
        "context_rules[1].condition: rule.all[0].field: contact.downloads_last_14_days is now called"
        " contact.recent_downloads.",
    ]


def test_every_field_a_context_rule_may_use_is_filled_by_scoring():
    facts = replace(SHOPPER, contact={"email": "a@example.com", "time_zone": "UTC", "traits": {}, "last_seen_at": NOW})
    context = facts.as_context(CONFIG)
    allowed = [name for name in FIELDS if name.startswith(SCORING_FIELD_PREFIXES) and not name.endswith(".*")]

    assert allowed
    assert [name for name in allowed if lookup(context, name) is MISSING] == []


def test_a_category_seen_in_earlier_sessions_is_more_relevant():
    new = factor_sub_scores(replace(SHOPPER, categories=("books",)), CONFIG)["category_relevance"]
    returning = factor_sub_scores(replace(SHOPPER, categories=("books",), past_categories=frozenset({"books"})), CONFIG)

    assert returning["category_relevance"][0] == new[0] + 10


FACTOR_NAMES = ["time_spent", "action_depth", "category_relevance", "lifecycle_stage"]
percentages = st.one_of(st.integers(0, 100), st.floats(0, 100, allow_nan=False, allow_infinity=False))


@given(weights=st.lists(percentages, min_size=4, max_size=4).filter(lambda w: abs(sum(w) - 100) > 1e-6))
def test_weights_that_do_not_total_100_are_rejected(weights):
    data = copy.deepcopy(DEFAULT_CONFIG_JSON)
    data["weights"] = dict(zip(FACTOR_NAMES, weights, strict=True))

    with pytest.raises(ConfigError) as error:
        parse_config(data)

    assert error.value.errors == [f"weights: must total 100%, not {sum(weights):g}%."]


@given(weights=st.lists(st.integers(0, 100), min_size=3, max_size=3).filter(lambda w: sum(w) <= 100))
def test_weights_that_total_100_are_accepted(weights):
    data = copy.deepcopy(DEFAULT_CONFIG_JSON)
    data["weights"] = dict(zip(FACTOR_NAMES, [*weights, 100 - sum(weights)], strict=True))

    assert sum(parse_config(data).weights.values()) == 100


def test_config_errors_name_every_problem():
    data = copy.deepcopy(DEFAULT_CONFIG_JSON)
    data["session_time"] = [[0, 50], [60, 10]]
    data["medium_threshold"] = 90
    data["context_rules"] = [{"name": "x", "condition": {"field": "nope", "op": "eq", "value": 1}, "adjust": 5}]

    with pytest.raises(ConfigError) as error:
        parse_config(data)

    text = " ".join(error.value.errors)
    assert "session_time: scores must not fall" in text
    assert "medium threshold must be below" in text
    assert "context_rules[0].condition: rule.field: unknown field 'nope'" in text


facts_strategy = st.builds(
    ScoringFacts,
    session_duration_seconds=st.floats(0, 20_000),
    product_dwell_seconds=st.floats(0, 5_000),
    actions=st.frozensets(st.sampled_from(ACTIONS)),
    categories=st.lists(st.sampled_from(["electronics", "books", "toys", "blog"]), max_size=2).map(tuple),
    lifecycle_stage=st.sampled_from(["", "lead", "mql", "customer", "unknown"]),
    past_categories=st.frozensets(st.sampled_from(["electronics", "books"])),
    recent_downloads=st.integers(0, 5),
    event_action=st.sampled_from(["", *ACTIONS]),
    event_properties=st.fixed_dictionaries({"content_type": st.sampled_from(["blog", "guide"])}),
    session_last_event_at=st.just(NOW)
    | st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 11, 29), timezones=st.just(UTC)),
)
weights_strategy = st.lists(st.integers(0, 100), min_size=3, max_size=3).filter(lambda w: sum(w) <= 100)


@given(facts=facts_strategy)
def test_score_is_always_within_0_and_100_and_lines_add_up(facts):
    result = score_intent(facts, CONFIG, now=NOW)

    assert 0 <= result.value <= 100
    assert sum(line.contribution for line in result.lines) == pytest.approx(result.value, abs=0.06)


@given(facts=facts_strategy, extra=st.floats(0, 2_000))
def test_score_is_monotone_in_time_spent(facts, extra):
    longer = replace(facts, session_duration_seconds=facts.session_duration_seconds + extra)

    assert score_intent(longer, CONFIG, now=NOW).value >= score_intent(facts, CONFIG, now=NOW).value


@given(facts=facts_strategy, action=st.sampled_from(ACTIONS))
def test_score_is_monotone_in_action_depth(facts, action):
    deeper = replace(facts, actions=facts.actions | {action})

    assert score_intent(deeper, CONFIG, now=NOW).value >= score_intent(facts, CONFIG, now=NOW).value


@given(facts=facts_strategy, stage=st.sampled_from(["lead", "mql", "customer"]))
def test_score_is_monotone_in_lifecycle_stage_sub_score(facts, stage):
    a, b = replace(facts, lifecycle_stage=stage), replace(facts, lifecycle_stage="repeat_customer")
    assert CONFIG.lifecycle["repeat_customer"] >= CONFIG.lifecycle[stage]

    assert score_intent(b, CONFIG, now=NOW).value >= score_intent(a, CONFIG, now=NOW).value


@given(facts=facts_strategy)
def test_score_is_monotone_in_category_relevance(facts):
    relevant = replace(facts, categories=("electronics",), past_categories=frozenset({"electronics"}))
    irrelevant = replace(facts, categories=("electronics",), past_categories=frozenset())

    assert score_intent(relevant, CONFIG, now=NOW).value >= score_intent(irrelevant, CONFIG, now=NOW).value


@given(facts=facts_strategy, weights=weights_strategy)
def test_any_weights_totalling_100_give_a_score_within_range(facts, weights):
    data = copy.deepcopy(DEFAULT_CONFIG_JSON)
    data["weights"] = dict(
        zip(
            FACTOR_NAMES,
            [*weights, 100 - sum(weights)],
            strict=True,
        )
    )

    assert 0 <= score_intent(facts, parse_config(data), now=NOW).value <= 100


def test_facts_survive_a_json_round_trip():
    facts = replace(
        SHOPPER, actions=frozenset({"cart_viewed"}), past_categories=frozenset({"books"}), recent_downloads=2
    )

    assert ScoringFacts.from_json(facts.to_json()) == facts
