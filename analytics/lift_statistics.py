"""Lift statistics for email experiments: pure functions, no Django (see docs/statistics.md).

Rates get Wilson score intervals, relative lift a Miettinen-Nurminen score interval for the risk ratio, the
fixed-horizon p-value Fisher's exact test or the pooled z-test, and ``always_valid_p`` a mixture SPRT so that
dashboards watched every day do not inflate false positives.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from statistics import NormalDist

_NORMAL = NormalDist()
FISHER = "Fisher's exact test"
Z_TEST = "two-proportion z-test"
# The mSPRT mixing prior's standard deviation, as a fraction of the pooled rate: a 20% relative lift.
DEFAULT_MIXING_LIFT = 0.2


@dataclass(frozen=True, slots=True)
class Rate:
    successes: int
    trials: int
    rate: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True, slots=True)
class Lift:
    treated: Rate
    control: Rate
    lift: float | None  # treated.rate / control.rate - 1; None when the control rate is 0 (or a group is empty)
    ci_low: float | None  # None when undefined
    ci_high: float | None  # None when undefined or unbounded (no control successes)
    p_value: float | None  # fixed horizon: valid only if the sample size was fixed in advance
    always_valid_p: float | None  # valid however often the results are looked at
    enough_data: bool
    note: str


def _check(successes: int, trials: int) -> None:
    if trials < 0 or successes < 0 or successes > trials:
        raise ValueError(f"need 0 <= successes <= trials, got {successes}/{trials}")


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    return _NORMAL.inv_cdf(0.5 + confidence / 2)


def rate(successes: int, trials: int, *, confidence: float = 0.95) -> Rate:
    """The rate with its Wilson score interval (Wilson 1927), which unlike p ± z·se never leaves [0, 1]
    and keeps near-nominal coverage for small counts and rates near 0, as email click rates are."""
    _check(successes, trials)
    z = _z(confidence)
    if trials == 0:
        return Rate(successes, trials, None, None, None)
    p = successes / trials
    z2n = z * z / trials
    centre = (p + z2n / 2) / (1 + z2n)
    half = z / (1 + z2n) * math.sqrt(p * (1 - p) / trials + z2n / (4 * trials))
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return Rate(successes, trials, p, low, high)


def difference_interval(
    treated_successes: int, treated_n: int, control_successes: int, control_n: int, *, confidence: float = 0.95
) -> tuple[float, float] | None:
    """Interval for the difference of rates (percentage points): Newcombe's (1998) hybrid score method 10."""
    t = rate(treated_successes, treated_n, confidence=confidence)
    c = rate(control_successes, control_n, confidence=confidence)
    if t.rate is None or c.rate is None:
        return None
    d = t.rate - c.rate
    low = d - math.hypot(t.rate - t.ci_low, c.ci_high - c.rate)
    high = d + math.hypot(t.ci_high - t.rate, c.rate - c.ci_low)
    return low, high


def _ratio_score(theta: float, x1: int, n1: int, x2: int, n2: int) -> float:
    """Miettinen-Nurminen score statistic for H0: p1 / p2 = theta; decreasing in theta."""
    total = n1 + n2
    # Closed-form MLE of p2 under p1 = theta * p2 (root of a quadratic), written in the cancellation-free form.
    b = theta * n1 + x1 + n2 + theta * x2
    disc = max(b * b - 4 * theta * total * (x1 + x2), 0.0)
    p2 = 2 * (x1 + x2) / (b + math.sqrt(disc))
    p1 = min(theta * p2, 1.0)
    num = x1 / n1 - theta * x2 / n2
    var = (p1 * (1 - p1) / n1 + theta * theta * p2 * (1 - p2) / n2) * total / (total - 1)
    if var <= 0:
        return 0.0 if num == 0 else math.copysign(math.inf, num)
    return num / math.sqrt(var)


def _root(f, start: float) -> float | None:
    """Root of a decreasing f of u = log(ratio), bracketed by stepping out from start; None if beyond e^±60."""
    lo = hi = start
    step = 0.5
    while f(lo) <= 0:
        lo, step = lo - step, step * 2
        if lo < -60:
            return None
    step = 0.5
    while f(hi) >= 0:
        hi, step = hi + step, step * 2
        if hi > 60:
            return None
    # SciPy is imported when a statistic first needs it: importing it took 0.8 s, which every web worker paid on
    # its first request (the URLconf imports this module), tracking API included.
    from scipy.optimize import brentq

    return brentq(f, lo, hi, xtol=1e-12, rtol=1e-12)


def _ratio_interval(x1: int, n1: int, x2: int, n2: int, z: float) -> tuple[float, float | None]:
    """Score interval for the risk ratio; None as the upper end means unbounded (no control successes)."""
    # Start the search from the Haldane-corrected ratio, finite even when a cell is 0.
    start = math.log((x1 + 0.5) / (n1 + 0.5)) - math.log((x2 + 0.5) / (n2 + 0.5))
    low = 0.0
    if x1 > 0:
        u = _root(lambda u: _ratio_score(math.exp(u), x1, n1, x2, n2) - z, start)
        low = 0.0 if u is None else math.exp(u)
    high = None
    if x2 > 0:
        u = _root(lambda u: _ratio_score(math.exp(u), x1, n1, x2, n2) + z, start)
        high = None if u is None else math.exp(u)
    return low, high


def fixed_horizon_p_value(
    treated_successes: int, treated_n: int, control_successes: int, control_n: int
) -> tuple[float | None, str]:
    """Two-sided p-value of equal rates and the test used: Fisher's exact test when an expected cell count is
    below 5 (where the normal approximation is unreliable), otherwise the pooled two-proportion z-test."""
    x1, n1, x2, n2 = treated_successes, treated_n, control_successes, control_n
    _check(x1, n1)
    _check(x2, n2)
    if n1 == 0 or n2 == 0:
        return None, ""
    total, hits = n1 + n2, x1 + x2
    if min(n1, n2) * min(hits, total - hits) / total < 5:
        from scipy.stats import fisher_exact  # imported when first needed, as brentq above

        return float(fisher_exact([[x1, n1 - x1], [x2, n2 - x2]]).pvalue), FISHER
    pooled_rate = hits / total
    se = math.sqrt(pooled_rate * (1 - pooled_rate) * (1 / n1 + 1 / n2))
    z = (x1 / n1 - x2 / n2) / se
    return math.erfc(abs(z) / math.sqrt(2)), Z_TEST


def _msprt_p(x1: int, n1: int, x2: int, n2: int, mixing_lift: float) -> float:
    pooled_rate = (x1 + x2) / (n1 + n2)
    # Variance of the observed difference under H0 (pooled), as for the z-test.
    v = pooled_rate * (1 - pooled_rate) * (1 / n1 + 1 / n2)
    tau2 = (mixing_lift * pooled_rate) ** 2
    if v <= 0 or tau2 <= 0:
        return 1.0
    diff = x1 / n1 - x2 / n2
    log_lambda = 0.5 * math.log(v / (v + tau2)) + tau2 * diff * diff / (2 * v * (v + tau2))
    return min(1.0, math.exp(-log_lambda))


def always_valid_p_value(
    treated_successes: int,
    treated_n: int,
    control_successes: int,
    control_n: int,
    *,
    mixing_lift: float = DEFAULT_MIXING_LIFT,
) -> float | None:
    """mSPRT p-value (Johari, Pekelis & Walsh 2017/2022): 1 / Lambda, Lambda the likelihood ratio of the rate
    difference, normal approximation, with a N(0, tau^2) mixture over the difference under the alternative.

    tau = mixing_lift * pooled rate: the test is sharpest near the sample size at which a fixed-horizon test
    would have 80% power for a lift of about mixing_lift (docs/statistics.md). It is never reported below the
    fixed-horizon p: with a handful of contacts the normal approximation can overstate the evidence, and raising
    a p-value never breaks validity. A dashboard that keeps the history may show the running minimum of this p;
    stopping at the first value below alpha is the same rule.
    """
    p, _ = fixed_horizon_p_value(treated_successes, treated_n, control_successes, control_n)
    if p is None:
        return None
    return max(p, _msprt_p(treated_successes, treated_n, control_successes, control_n, mixing_lift))


def _pct(x: float | None) -> str:
    return "undefined" if x is None else f"{x:+.1%}"


def _describe(result_lift: float | None, low: float | None, high: float | None, confidence: float) -> str:
    if result_lift is None:
        return "lift undefined (no successes in the control group)"
    upper = "no upper limit" if high is None else _pct(high)
    return f"lift {_pct(result_lift)} ({confidence:.0%} CI {_pct(low)} to {upper})"


def lift(
    treated_successes: int,
    treated_n: int,
    control_successes: int,
    control_n: int,
    *,
    min_n: int = 100,
    min_successes: int = 5,
    confidence: float = 0.95,
    mixing_lift: float = DEFAULT_MIXING_LIFT,
) -> Lift:
    """Relative lift of treated over control with its interval, both p-values and a sentence for marketers."""
    x1, n1, x2, n2 = treated_successes, treated_n, control_successes, control_n
    treated = rate(x1, n1, confidence=confidence)
    control = rate(x2, n2, confidence=confidence)
    alpha = 1 - confidence
    enough = min(n1, n2) >= min_n and x1 + x2 >= min_successes
    point = low = high = None
    if n1 and n2 and x2 > 0:
        point = treated.rate / control.rate - 1
    if n1 and n2 and x1 + x2 > 0:
        ratio_low, ratio_high = _ratio_interval(x1, n1, x2, n2, _z(confidence))
        low = ratio_low - 1
        high = None if ratio_high is None else ratio_high - 1
    p, test = fixed_horizon_p_value(x1, n1, x2, n2)
    avp = None if p is None else max(p, _msprt_p(x1, n1, x2, n2, mixing_lift))
    described = _describe(point, low, high, confidence)

    if not enough:
        missing = []
        if min(n1, n2) < min_n:
            missing.append(f"{min(n1, n2)} of {min_n} contacts needed in each group")
        if x1 + x2 < min_successes:
            missing.append(f"{x1 + x2} of {min_successes} successes needed in total")
        note = f"Not enough data yet: {' and '.join(missing)}."
    elif avp is not None and avp < alpha:
        note = (
            f"Significant under continuous monitoring: {treated.rate:.2%} vs {control.rate:.2%}, {described}; "
            f"always-valid p = {avp:.3g}. This holds even though the results were watched as they came in."
        )
    elif p is not None and p < alpha:
        note = (
            f"Significant only if the sample size was fixed in advance: {described}, p = {p:.3g} ({test}). "
            f"If you have been checking as results arrive, keep the test running: the always-valid p is {avp:.3g}."
        )
    else:
        note = f"No significant difference yet: {described}, p = {p:.3g} ({test})."
    return Lift(treated, control, point, low, high, p, avp, enough, note)


def sample_size_per_group(
    baseline_rate: float, relative_lift: float, *, power: float = 0.8, alpha: float = 0.05
) -> int:
    """Contacts per group for a two-sided fixed-horizon test to detect the lift (Fleiss, Levin & Paik 2003,
    ch. 4, without continuity correction)."""
    p1, p2 = baseline_rate, baseline_rate * (1 + relative_lift)
    if not (0 < p1 < 1 and 0 < p2 < 1) or relative_lift == 0:
        raise ValueError("baseline and lifted rates must lie strictly between 0 and 1, and the lift must not be 0")
    if not (0 < power < 1 and 0 < alpha < 1):
        raise ValueError("power and alpha must lie between 0 and 1")
    z_alpha, z_beta = _NORMAL.inv_cdf(1 - alpha / 2), _NORMAL.inv_cdf(power)
    mean = (p1 + p2) / 2
    root = z_alpha * math.sqrt(2 * mean * (1 - mean)) + z_beta * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil(root * root / (p2 - p1) ** 2)


def pooled(rows: Iterable[tuple[int, int]]) -> tuple[int, int]:
    """Sum (successes, trials) rows, e.g. per-day or per-step counts, into one pair."""
    successes = trials = 0
    for s, n in rows:
        successes += s
        trials += n
    return successes, trials
