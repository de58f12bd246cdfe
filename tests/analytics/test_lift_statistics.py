"""Lift statistics against published worked examples, independent recomputations, properties and simulations.

Every hard-coded number cites its source and is also recomputed inline by a different route (scipy or a formula
written out here), so a typo in either the code or the test cannot pass unnoticed.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar
from scipy.stats import binomtest, chi2_contingency, norm
from scipy.stats.contingency import relative_risk

from analytics.lift_statistics import (
    FISHER,
    Z_TEST,
    Rate,
    always_valid_p_value,
    difference_interval,
    fixed_horizon_p_value,
    lift,
    pooled,
    rate,
    sample_size_per_group,
)

Z95 = norm.ppf(0.975)


# --- Wilson score interval ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [
        # Newcombe (1998), "Two-sided confidence intervals for the single proportion", Stat Med 17:857-872,
        # Table I, method 3 (Wilson score, no continuity correction).
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_matches_newcombe_table_i_and_scipy(successes, trials, low, high):
    r = rate(successes, trials)
    assert r.rate == successes / trials
    assert r.ci_low == pytest.approx(low, abs=5e-5)
    assert r.ci_high == pytest.approx(high, abs=5e-5)
    # Cross-check: scipy's independent implementation.
    ci = binomtest(successes, trials).proportion_ci(confidence_level=0.95, method="wilson")
    assert r.ci_low == pytest.approx(ci.low, abs=1e-12)
    assert r.ci_high == pytest.approx(ci.high, abs=1e-12)


def test_rate_without_trials_is_undefined_and_bad_counts_are_refused():
    assert rate(0, 0) == Rate(0, 0, None, None, None)
    with pytest.raises(ValueError, match="successes"):
        rate(3, 2)
    with pytest.raises(ValueError, match="successes"):
        rate(-1, 2)
    with pytest.raises(ValueError, match="confidence"):
        rate(1, 2, confidence=95)


@given(st.integers(1, 100_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_contains_the_rate_and_stays_in_unit_interval(counts):
    successes, trials = counts
    r = rate(successes, trials)
    assert 0.0 <= r.ci_low <= r.rate <= r.ci_high <= 1.0
    mirror = rate(trials - successes, trials)  # the interval of the failure rate mirrors it
    assert mirror.ci_low == pytest.approx(1 - r.ci_high, abs=1e-12)


# --- Difference of rates -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "m", "b", "n", "low", "high"),
    [
        # Newcombe (1998), "Interval estimation for the difference between independent proportions",
        # Stat Med 17:873-890, Table II, method 10 (hybrid score, no continuity correction).
        (56, 70, 48, 80, 0.0524, 0.3339),
        (9, 10, 3, 10, 0.1705, 0.8090),
        (6, 7, 2, 7, 0.0582, 0.8062),
        (5, 56, 0, 29, -0.0381, 0.1926),
    ],
)
def test_difference_interval_matches_newcombe_table_ii(a, m, b, n, low, high):
    got = difference_interval(a, m, b, n)
    assert got == pytest.approx((low, high), abs=5e-5)
    # Cross-check: method 10 written out from scipy's Wilson limits.
    ci1 = binomtest(a, m).proportion_ci(method="wilson")
    ci2 = binomtest(b, n).proportion_ci(method="wilson")
    p1, p2 = a / m, b / n
    expected = (
        p1 - p2 - math.hypot(p1 - ci1.low, ci2.high - p2),
        p1 - p2 + math.hypot(ci1.high - p1, p2 - ci2.low),
    )
    assert got == pytest.approx(expected, abs=1e-12)
    assert difference_interval(0, 0, 0, 5) is None


# --- Fixed-horizon p-values ----------------------------------------------------------------------------------


def test_fisher_exact_lady_tasting_tea():
    # Fisher (1935), The Design of Experiments, ch. II: 3 of 4 milk-first cups identified, 1 of 4 tea-first
    # wrongly called milk-first; two-sided p = 34/70 = 0.4857.
    p, test = fixed_horizon_p_value(3, 4, 1, 4)
    assert test == FISHER
    assert p == pytest.approx(0.4857, abs=5e-5)
    # Cross-check: sum the hypergeometric probabilities no more likely than the observed table.
    probs = [math.comb(4, k) * math.comb(4, 4 - k) / math.comb(8, 4) for k in range(5)]
    assert p == pytest.approx(sum(q for q in probs if q <= probs[3] + 1e-12), abs=1e-12)
    assert lift(3, 4, 1, 4).p_value == p


# Physicians' Health Study (aspirin vs placebo, myocardial infarction), as analysed in Agresti (2007),
# An Introduction to Categorical Data Analysis, 2nd ed., ch. 2: placebo 189/11034, aspirin 104/11037;
# relative risk 1.82 with 95% CI about (1.43, 2.30), Pearson X^2 = 25.01.
PHS = (189, 11034, 104, 11037)


def test_pooled_z_test_physicians_health_study():
    p, test = fixed_horizon_p_value(*PHS)
    assert test == Z_TEST
    z = norm.isf(p / 2)
    assert z * z == pytest.approx(25.01, abs=0.005)
    # Cross-check: the pooled z-test is Pearson's chi-square without continuity correction.
    x1, n1, x2, n2 = PHS
    _chi2, chi_p, *_ = chi2_contingency([[x1, n1 - x1], [x2, n2 - x2]], correction=False)
    assert p == pytest.approx(chi_p, rel=1e-9)


def test_katz_log_relative_risk_physicians_health_study_and_score_interval_agrees():
    x1, n1, x2, n2 = PHS
    rr = (x1 / n1) / (x2 / n2)
    se = math.sqrt(1 / x1 - 1 / n1 + 1 / x2 - 1 / n2)  # Katz et al. (1978)
    katz = (rr * math.exp(-Z95 * se), rr * math.exp(Z95 * se))
    assert rr == pytest.approx(1.82, abs=0.005)
    assert katz == pytest.approx((1.43, 2.30), abs=0.01)
    # Cross-check: scipy's Katz interval.
    assert relative_risk(x1, n1, x2, n2).confidence_interval() == pytest.approx(katz, rel=1e-9)
    # With hundreds of events the score interval we report and Katz's must nearly coincide.
    result = lift(*PHS)
    assert result.lift == pytest.approx(rr - 1, rel=1e-12)
    assert (1 + result.ci_low, 1 + result.ci_high) == pytest.approx(katz, rel=0.01)


def test_fisher_only_when_an_expected_count_is_below_five():
    assert fixed_horizon_p_value(4, 1000, 5, 1000)[1] == FISHER  # expected successes 4.5 per group
    assert fixed_horizon_p_value(5, 1000, 5, 1000)[1] == Z_TEST  # expected 5
    assert fixed_horizon_p_value(0, 0, 1, 10) == (None, "")


def _score_by_brute_force(theta, x1, n1, x2, n2):
    """Miettinen-Nurminen statistic with the restricted MLE found numerically instead of by formula."""

    def nll(p2):
        p1 = theta * p2
        return -(x1 * math.log(p1) + (n1 - x1) * math.log1p(-p1) + x2 * math.log(p2) + (n2 - x2) * math.log1p(-p2))

    p2 = minimize_scalar(nll, bounds=(1e-12, min(1.0, 1 / theta) - 1e-12), method="bounded", options={"xatol": 1e-13}).x
    p1 = theta * p2
    var = (p1 * (1 - p1) / n1 + theta**2 * p2 * (1 - p2) / n2) * (n1 + n2) / (n1 + n2 - 1)
    return (x1 / n1 - theta * x2 / n2) / math.sqrt(var)


@pytest.mark.parametrize("table", [(36, 40, 16, 80), (3, 4, 1, 4), (7, 1000, 3, 1000), (12, 300, 30, 310), PHS])
def test_ratio_interval_ends_are_where_the_score_statistic_is_plus_minus_z(table):
    result = lift(*table)
    assert _score_by_brute_force(1 + result.ci_low, *table) == pytest.approx(Z95, abs=1e-4)
    assert _score_by_brute_force(1 + result.ci_high, *table) == pytest.approx(-Z95, abs=1e-4)


def test_zero_cells():
    no_treated = lift(0, 500, 8, 500)
    assert no_treated.lift == -1.0
    assert no_treated.ci_low == -1.0
    assert -1.0 < no_treated.ci_high < 0.0
    no_control = lift(8, 500, 0, 500)
    assert no_control.lift is None
    assert no_control.ci_low > 0  # the lower bound stays informative
    assert no_control.ci_high is None  # no upper bound
    assert "lift undefined (no successes in the control group)" in no_control.note
    nothing = lift(0, 500, 0, 500)
    assert (nothing.lift, nothing.ci_low, nothing.ci_high, nothing.p_value) == (None, None, None, 1.0)
    empty = lift(0, 0, 3, 10)
    assert (empty.lift, empty.p_value, empty.always_valid_p, empty.enough_data) == (None, None, None, False)


# --- Properties ----------------------------------------------------------------------------------------------


@st.composite
def tables(draw, max_n=5000):
    n1 = draw(st.integers(1, max_n))
    n2 = draw(st.integers(1, max_n))
    return draw(st.integers(0, n1)), n1, draw(st.integers(0, n2)), n2


@settings(max_examples=200, deadline=None)
@given(tables())
def test_swapping_groups_inverts_the_lift_and_keeps_the_p_values(table):
    x1, n1, x2, n2 = table
    a, b = lift(x1, n1, x2, n2), lift(x2, n2, x1, n1)
    assert a.p_value == pytest.approx(b.p_value, rel=1e-9, abs=1e-15)
    assert a.always_valid_p == pytest.approx(b.always_valid_p, rel=1e-9, abs=1e-15)
    if x1 > 0 and x2 > 0:
        assert (1 + a.lift) * (1 + b.lift) == pytest.approx(1.0, rel=1e-9)
        assert (1 + a.ci_low) * (1 + b.ci_high) == pytest.approx(1.0, rel=1e-6)
        assert (1 + a.ci_high) * (1 + b.ci_low) == pytest.approx(1.0, rel=1e-6)


@settings(max_examples=200, deadline=None)
@given(tables())
def test_the_lift_interval_contains_the_point_lift(table):
    result = lift(*table)
    if result.lift is not None:
        assert result.ci_low <= result.lift + 1e-9
        assert result.ci_high is None or result.lift <= result.ci_high + 1e-9
    assert result.p_value is None or 0.0 <= result.p_value <= 1.0
    assert result.always_valid_p is None or result.p_value <= result.always_valid_p <= 1.0


@settings(deadline=None)
@given(st.integers(1, 20_000).flatmap(lambda n: st.tuples(st.integers(1, n), st.just(n))))
def test_identical_groups_show_no_lift_and_p_value_one(counts):
    successes, trials = counts
    result = lift(successes, trials, successes, trials)
    assert result.lift == 0.0
    assert result.p_value >= 0.99
    assert result.always_valid_p == 1.0
    assert not result.note.startswith("Significant")


@given(tables(max_n=400), st.integers(0, 400), st.integers(0, 400))
def test_enough_data_is_monotone_in_group_size(table, more1, more2):
    x1, n1, x2, n2 = table
    if lift(x1, n1, x2, n2).enough_data:
        assert lift(x1, n1 + more1, x2, n2 + more2).enough_data


def test_not_enough_data_note_counts_what_is_missing():
    assert lift(10, 38, 9, 250).note == "Not enough data yet: 38 of 100 contacts needed in each group."
    assert lift(1, 300, 2, 300).note == "Not enough data yet: 3 of 5 successes needed in total."
    short = lift(30, 38, 1, 250)
    assert not short.enough_data  # flagged,
    assert short.lift is not None  # but computed


def test_note_says_which_p_value_decides():
    # Agresti's aspirin table: overwhelming, so significant even under continuous monitoring.
    assert lift(*PHS).note.startswith("Significant under continuous monitoring")
    # 14% vs 10% of 1000: fixed-horizon p = 0.006, but the always-valid p is not below 0.05.
    fixed_only = lift(140, 1000, 100, 1000)
    assert fixed_only.p_value < 0.05 <= fixed_only.always_valid_p
    assert fixed_only.note.startswith("Significant only if the sample size was fixed in advance")
    assert "z-test" in fixed_only.note
    unclear = lift(105, 1000, 100, 1000)
    assert unclear.note.startswith("No significant difference yet")


# --- Simulations ---------------------------------------------------------------------------------------------


def test_peeking_daily_inflates_fixed_horizon_false_positives_but_not_always_valid_ones():
    # A/A experiments: 5% conversion in both arms, 100 contacts per arm per day, a look every day for 30 days,
    # stopping at the first p < 0.05 (Armitage, McPherson & Rowe 1969: repeated looks inflate alpha).
    rng = np.random.default_rng(20240601)
    sims, days, per_day = 400, 30, 100
    treated = rng.binomial(per_day, 0.05, size=(sims, days)).cumsum(axis=1)
    control = rng.binomial(per_day, 0.05, size=(sims, days)).cumsum(axis=1)
    fixed_hits = valid_hits = 0
    for s in range(sims):
        looks = [
            lift(int(treated[s, d]), per_day * (d + 1), int(control[s, d]), per_day * (d + 1)) for d in range(days)
        ]
        fixed_hits += any(look.p_value < 0.05 for look in looks)
        valid_hits += any(look.always_valid_p < 0.05 for look in looks)
    assert fixed_hits / sims > 0.15  # far above the nominal 5% (about 0.3 here)
    assert valid_hits / sims <= 0.06  # 5% plus Monte Carlo slack (sd about 1.1% at 400 runs)


def test_lift_interval_covers_the_true_lift_about_95_percent_of_the_time():
    rng = np.random.default_rng(7)
    sims, n, control_rate, true_lift = 400, 2000, 0.08, 0.25
    xt = rng.binomial(n, control_rate * (1 + true_lift), size=sims)
    xc = rng.binomial(n, control_rate, size=sims)
    covered = 0
    for a, b in zip(xt, xc, strict=True):
        result = lift(int(a), n, int(b), n)
        covered += result.ci_low <= true_lift <= result.ci_high
    assert 0.92 <= covered / sims <= 0.98


# --- Sample size and pooling ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("baseline", "relative"), [(0.10, 0.20), (0.02, 0.30), (0.40, -0.10)])
def test_sample_size_is_the_smallest_n_with_the_requested_power(baseline, relative):
    n = sample_size_per_group(baseline, relative)
    p1, p2 = baseline, baseline * (1 + relative)
    mean = (p1 + p2) / 2

    def power(m):  # normal-approximation power of the pooled z-test, written out independently
        return norm.cdf(
            (abs(p2 - p1) * math.sqrt(m) - Z95 * math.sqrt(2 * mean * (1 - mean)))
            / math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
        )

    assert power(n) >= 0.8 > power(n - 1)


def test_sample_size_gives_about_80_percent_power_in_simulation():
    n = sample_size_per_group(0.10, 0.20)
    rng = np.random.default_rng(11)
    a = rng.binomial(n, 0.12, size=4000)
    b = rng.binomial(n, 0.10, size=4000)
    p = (a + b) / (2 * n)
    z = (a - b) / n / np.sqrt(p * (1 - p) * 2 / n)
    assert 0.77 <= np.mean(np.abs(z) > Z95) <= 0.83


def test_sample_size_refuses_impossible_rates():
    with pytest.raises(ValueError, match="strictly between"):
        sample_size_per_group(0.9, 0.2)
    with pytest.raises(ValueError, match="strictly between"):
        sample_size_per_group(0.1, 0.0)


def test_pooled_sums_rows():
    assert pooled([(3, 100), (5, 120), (0, 7)]) == (8, 227)
    assert pooled(iter([])) == (0, 0)
    assert always_valid_p_value(*pooled([(3, 100)]), *pooled([(3, 100)])) == 1.0
