"""Simulated sweeps with known truth: error rates and interval coverage stay where they should."""
from __future__ import annotations

import numpy as np

from spe_analysis.stats.corrections import adjust
from spe_analysis.stats.hypothesis import tost, welch
from spe_analysis.stats.intervals import delta_interval
from spe_analysis.stats.verdicts import verdict

ALPHA = 0.05


def _bound(rate: float, sims: int) -> float:
    """rate plus two simulation standard errors."""
    return rate + 2 * np.sqrt(rate * (1 - rate) / sims)


def test_holm_keeps_the_family_wise_false_positive_rate():
    """No true difference anywhere: the share of sweeps with any better/worse cell is at most alpha."""
    rng = np.random.default_rng(7)
    sweeps, cells, seeds = 300, 6, 5
    any_holm = any_none = 0
    for _ in range(sweeps):
        base = rng.normal(90.0, 0.5, seeds)
        data = rng.normal(90.0, 0.5, (cells, seeds))
        p = np.array([welch(a, base) for a in data])
        for method in ("holm", "none"):  # TOST p = 1: equivalence plays no part in false positives
            verdicts = [verdict(True, a.mean() - base.mean(), q, 1.0, ALPHA)
                        for a, q in zip(data, adjust(p, method))]
            hit = any(v in ("better", "worse") for v in verdicts)
            any_holm += hit and method == "holm"
            any_none += hit and method == "none"
    assert any_holm / sweeps <= _bound(ALPHA, sweeps)
    assert any_none / sweeps > 2 * ALPHA  # without correction the family errs: the check has teeth


def test_tost_rarely_calls_a_margin_sized_difference_equivalent():
    rng = np.random.default_rng(8)
    sims, margin = 400, 0.5
    wrong = sum(tost(rng.normal(90.0 + margin, 0.3, 8), rng.normal(90.0, 0.3, 8), margin) < ALPHA
                for _ in range(sims))
    assert wrong / sims <= _bound(ALPHA, sims)


def _coverage(rng, sims, n1, n2, sd1, sd2, skew=False):
    hits, methods = 0, set()
    for _ in range(sims):
        if skew:  # seed noise with a long tail to the left, like an occasional bad run
            a = 90.5 - rng.gamma(2.0, sd1 / np.sqrt(2), n1)
            b = 90.0 - rng.gamma(2.0, sd2 / np.sqrt(2), n2)
            truth = 0.5 - 2.0 * (sd1 - sd2) / np.sqrt(2)
        else:
            a, b, truth = rng.normal(90.5, sd1, n1), rng.normal(90.0, sd2, n2), 0.5
        low, high, method = delta_interval(a, b)
        hits += low <= truth <= high
        methods.add(method)
    return hits / sims, methods


def test_t_interval_covers_the_true_difference():
    coverage, methods = _coverage(np.random.default_rng(9), 400, 5, 4, 0.3, 0.6)
    assert methods == {"t"}
    assert abs(coverage - 0.95) <= 3 * np.sqrt(0.95 * 0.05 / 400)


def test_bca_interval_covers_the_true_difference():
    coverage, methods = _coverage(np.random.default_rng(10), 100, 30, 30, 0.4, 0.4, skew=True)
    assert methods == {"bca"}
    assert coverage >= 0.95 - 3 * np.sqrt(0.95 * 0.05 / 100)
