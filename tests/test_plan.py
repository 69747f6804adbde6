"""spe plan: seeds per arm from the noncentral t, checked by simulating the tests themselves."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import integrate, stats
from statsmodels.stats.power import TTestIndPower

from conftest import assert_usage_error, run_spe
from spe_analysis.errors import SpeError
from spe_analysis.stats import compare, plan
from spe_analysis.stats.corrections import holm
from spe_analysis.stats.planning import (comparison_alpha, seeds_for_equivalence, seeds_to_detect,
                                         seeds_to_resolve, tost_power, welch_power)
from synthetic_runs import write_sweep


def _se(p: float, sims: int) -> float:
    return math.sqrt(p * (1 - p) / sims)


def _welch_rejections(rng, sims, n, delta, sd, alpha, cells=1):
    """Simulated two-sided Welch p-values < alpha, shape (sims, cells); cell 0 has the difference."""
    shift = np.zeros((1, cells, 1))
    shift[0, 0, 0] = delta
    a = rng.normal(0.0, sd, (sims, cells, n)) + shift
    b = rng.normal(0.0, sd, (sims, 1, n))
    return stats.ttest_ind(a, b, axis=-1, equal_var=False).pvalue


@pytest.mark.parametrize("n,delta,sd,alpha", [(5, 0.5, 0.4, 0.05), (20, 0.3, 0.4, 0.005),
                                              (8, -1.0, 1.0, 0.01)])
def test_welch_power_matches_simulation(n, delta, sd, alpha):
    sims = 4000
    p = _welch_rejections(np.random.default_rng(n), sims, n, delta, sd, alpha)[:, 0]
    simulated = np.mean(p < alpha)
    assert abs(simulated - welch_power(n, delta, sd, alpha)) <= 3 * _se(simulated, sims) + 0.005


@pytest.mark.parametrize("sd,delta,alpha,power", [
    (0.4, 0.3, 0.05 / 25, 0.8), (0.4, -0.5, 0.05, 0.9), (1.2, 0.4, 0.01, 0.8), (0.3, 1.0, 0.005, 0.95)])
def test_seeds_to_detect_is_the_smallest_n_by_statsmodels(sd, delta, alpha, power):
    """Equal arms and SDs: Welch's df is 2(n - 1), the two-sample t test statsmodels plans."""
    reference = TTestIndPower()
    n = seeds_to_detect(sd, delta, alpha, power)
    assert n == math.ceil(reference.solve_power(effect_size=abs(delta) / sd, alpha=alpha,
                                                power=power))
    assert reference.power(abs(delta) / sd, n, alpha) >= power > reference.power(abs(delta) / sd,
                                                                                  n - 1, alpha)
    assert welch_power(n, delta, sd, alpha) == pytest.approx(
        reference.power(abs(delta) / sd, n, alpha), abs=1e-9)


def test_seeds_to_detect_edge_cases():
    alpha = comparison_alpha(0.05, 25, "holm")
    assert seeds_to_detect(0.4, 0.3, alpha, 0.8) == 58  # the README's example
    assert seeds_to_detect(0.4, 0.0, alpha) is None
    assert seeds_to_detect(0.0, 0.3, alpha) == 2


def exact_tost_power(n: int, delta: float, sd: float, margin: float, alpha: float) -> float:
    """Exact power of TOST with the pooled t (df 2(n - 1)), integrated over the variance
    estimate: given it, TOST rejects when the observed difference lies in an interval."""
    df, k = 2 * (n - 1), math.sqrt(2 / n)
    crit = stats.t.isf(alpha, df)

    def given(v: float) -> float:
        half = margin - crit * sd * math.sqrt(v / df) * k  # the interval is (-half, half)
        if half <= 0:
            return 0.0
        return (stats.norm.cdf((half - delta) / (sd * k))
                - stats.norm.cdf((-half - delta) / (sd * k)))
    low, high = stats.chi2.ppf(1e-12, df), stats.chi2.isf(1e-12, df)  # where the mass is
    return integrate.quad(lambda v: given(v) * stats.chi2.pdf(v, df), low, high, limit=200)[0]


@pytest.mark.parametrize("sd,margin,delta,alpha", [
    (0.4, 0.5, 0.0, 0.005), (0.4, 0.5, 0.2, 0.005), (1.0, 0.5, 0.1, 0.05), (0.6, 0.5, 0.05, 0.002)])
def test_seeds_for_equivalence_is_the_smallest_n_by_exact_tost_power(sd, margin, delta, alpha):
    n = seeds_for_equivalence(sd, margin, alpha, 0.8, delta)
    assert exact_tost_power(n, delta, sd, margin, alpha) >= 0.8 > exact_tost_power(
        n - 1, delta, sd, margin, alpha)


@pytest.mark.parametrize("sd,delta,margin,alpha", [
    (0.4, 0.45, 0.5, 0.005),   # near the margin: detecting the difference is quicker
    (0.6, 0.05, 0.5, 0.002),   # near zero: showing equivalence is quicker
    (0.4, 0.7, 0.5, 0.01),     # beyond the margin: only detection can settle it
])
def test_seeds_to_resolve_takes_the_quicker_way_by_independent_references(sd, delta, margin,
                                                                          alpha):
    """The smaller of statsmodels' n for the Welch test and the smallest n of exact TOST power;
    at that n a simulated cell is settled (significant, or equivalent) with the planned power."""
    detect = math.ceil(TTestIndPower().solve_power(effect_size=delta / sd, alpha=alpha, power=0.8))
    equivalent = seeds_for_equivalence(sd, margin, alpha, 0.8, delta)
    if delta < margin:
        assert exact_tost_power(equivalent, delta, sd, margin, alpha) >= 0.8 > exact_tost_power(
            equivalent - 1, delta, sd, margin, alpha)
    else:
        assert equivalent is None
    n = seeds_to_resolve(sd, delta, margin, alpha)
    assert n == min(x for x in (detect, equivalent) if x is not None)
    sims, rng = 4000, np.random.default_rng(7)
    a, b = rng.normal(delta, sd, (sims, n)), rng.normal(0.0, sd, (sims, n))
    significant = stats.ttest_ind(a, b, axis=1, equal_var=False).pvalue < alpha
    equivalence = np.maximum(
        stats.ttest_ind(a + margin, b, axis=1, equal_var=False, alternative="greater").pvalue,
        stats.ttest_ind(a - margin, b, axis=1, equal_var=False, alternative="less").pvalue) < alpha
    assert np.mean(significant | equivalence) >= 0.8 - 3 * _se(0.8, sims)


def test_holm_sweep_of_that_size_finds_the_difference():
    """Simulate whole sweeps (K cells, one truly better) at the planned n, Holm over all cells."""
    cells, sd, delta, power = 10, 0.4, 0.4, 0.8
    n = seeds_to_detect(sd, delta, comparison_alpha(0.05, cells, "holm"), power)
    sims = 600
    p = _welch_rejections(np.random.default_rng(1), sims, n, delta, sd, 0.05, cells)
    found = np.mean([holm(row)[0] < 0.05 for row in p])
    assert found >= power - 3 * _se(power, sims)
    # and without the correction for K cells the plan would fall short under Holm
    n_naive = seeds_to_detect(sd, delta, 0.05, power)
    p = _welch_rejections(np.random.default_rng(2), sims, n_naive, delta, sd, 0.05, cells)
    assert np.mean([holm(row)[0] < 0.05 for row in p]) < power - 3 * _se(power, sims)


def _tost_rejections(rng, sims, n, delta, sd, margin, alpha):
    a = rng.normal(delta, sd, (sims, n))
    b = rng.normal(0.0, sd, (sims, n))
    lower = stats.ttest_ind(a + margin, b, axis=1, equal_var=False, alternative="greater").pvalue
    upper = stats.ttest_ind(a - margin, b, axis=1, equal_var=False, alternative="less").pvalue
    return np.maximum(lower, upper) < alpha


@pytest.mark.parametrize("delta", [0.0, 0.2])
def test_equivalence_plan_matches_simulation(delta):
    sd, margin, alpha, sims = 0.4, 0.5, comparison_alpha(0.05, 10, "holm"), 4000
    n = seeds_for_equivalence(sd, margin, alpha, 0.8, delta)
    rng = np.random.default_rng(3)
    simulated = np.mean(_tost_rejections(rng, sims, n, delta, sd, margin, alpha))
    assert simulated >= 0.8 - 3 * _se(0.8, sims)
    assert abs(simulated - tost_power(n, delta, sd, margin, alpha)) <= 0.03
    assert tost_power(n - 1, delta, sd, margin, alpha) < 0.8
    assert seeds_for_equivalence(sd, margin, alpha, 0.8, delta=0.6) is None


def test_comparison_alpha():
    assert comparison_alpha(0.05, 10, "none") == 0.05
    assert comparison_alpha(0.05, 10, "holm") == comparison_alpha(0.05, 10, "bh") == 0.005
    assert comparison_alpha(0.05, 3, "by") == pytest.approx(0.05 / (3 * (1 + 1 / 2 + 1 / 3)))


def test_stats_statement_uses_the_same_planner():
    base = {s: v for s, v in enumerate([90.0, 90.4, 89.6, 90.2, 89.8])}
    cells = {("mix", 0.5, 0.5): {s: v + 0.2 for s, v in enumerate([90.5, 89.5, 90.1, 89.7, 90.3])},
             ("mix", 1.0, 0.0): {s: v for s, v in enumerate([91.0, 90.3, 89.2, 90.9, 89.5])}}
    result = compare(base, cells)
    assert [c["verdict"] for c in result["cells"]] == ["inconclusive", "inconclusive"]
    gap = float(np.median([abs(c["delta"]) for c in result["cells"]]))
    expect = seeds_to_resolve(result["pooled_sd"], gap, 0.5, comparison_alpha(0.05, 2, "holm"))
    assert result["claim"]["seeds_needed"] == expect
    assert f"about {expect} seeds per cell" in result["claim"]["statement"]


def test_plan_validates():
    assert plan(0.4, 0.3, margin=0.5)["seeds_for_equivalence"] == seeds_for_equivalence(
        0.4, 0.5, comparison_alpha(0.05, 25, "holm"))
    for kwargs in (dict(sd=0.0), dict(delta=0.0), dict(cells=0), dict(power=1.0),
                   dict(margin=-0.5), dict(significance=0.0), dict(sd=float("nan"))):
        with pytest.raises(SpeError):
            plan(**{"sd": 0.4, "delta": 0.3, **kwargs})


def test_plan_command():
    result = run_spe("plan", "--sd", "0.4", "--delta", "0.3")
    assert result.code == 0, result.stderr
    assert "58" in result.stdout and "25 cells" in result.stdout
    data = json.loads(run_spe("plan", "--sd", "0.4", "--delta", "0.3", "--margin", "0.5",
                              "--cells", "10", "--correction", "none", "--format", "json").stdout)
    assert data["seeds_to_detect"] == seeds_to_detect(0.4, 0.3, 0.05)
    assert data["seeds_for_equivalence"] == seeds_for_equivalence(0.4, 0.5, 0.05)
    assert "equivalence" in run_spe("plan", "--sd", "1", "--delta", "1", "--margin", "1").stdout


def test_plan_takes_sd_from_a_sweep(tmp_path):
    cells = {("avg", None, None): [90.0, 90.4, 89.6, 90.2], ("mix", 0.5, 0.5): [91.0, 90.0, 90.6],
             ("mix", 1.0, 0.0): [90.0], ("mix", 1.0, 1.0): [89.0, 89.9, 89.3, 89.8, 88.7]}
    write_sweep(tmp_path, cells)
    data = json.loads(run_spe("plan", tmp_path, "--delta", "0.3", "--format", "json").stdout)
    # The pooled SD is the residual SD of a one-way ANOVA by cell (statsmodels OLS on dummies).
    y = np.concatenate([np.array(v) for v in cells.values()])
    dummies = np.repeat(np.eye(len(cells)), [len(v) for v in cells.values()], axis=0)
    pooled = math.sqrt(sm.OLS(y, dummies).fit().mse_resid)
    assert data["sd"] == pytest.approx(pooled) and data["cells"] == 3
    assert data["seeds_to_detect"] == math.ceil(TTestIndPower().solve_power(
        effect_size=0.3 / pooled, alpha=0.05 / 3, power=0.8))
    assert json.loads(run_spe("plan", tmp_path, "--delta", "0.3", "--cells", "7", "--format",
                              "json").stdout)["cells"] == 7
    assert_usage_error(run_spe("plan", tmp_path, "--sd", "0.4", "--delta", "0.3"), "not both")


@pytest.mark.parametrize("args,fragment", [
    (["--delta", "0.3"], "--sd"), (["--sd", "0.4", "--delta", "0.3", "--power", "2"], "--power"),
    (["--sd", "-1", "--delta", "0.3"], "--sd"), (["--sd", "0.4"], "delta"),
    (["--sd", "0.4", "--delta", "0.3", "--correction", "x"], "holm"),
])
def test_plan_refuses_bad_input(args, fragment):
    assert_usage_error(run_spe("plan", *args), fragment)
