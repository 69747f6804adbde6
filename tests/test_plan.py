"""spe plan: seeds per arm from the noncentral t, checked by simulating the tests themselves."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

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


def test_seeds_to_detect_is_the_smallest_enough():
    alpha = comparison_alpha(0.05, 25, "holm")
    n = seeds_to_detect(0.4, 0.3, alpha, 0.8)
    assert n == 58
    assert welch_power(n, 0.3, 0.4, alpha) >= 0.8 > welch_power(n - 1, 0.3, 0.4, alpha)
    smp = pytest.importorskip("statsmodels.stats.power")
    assert n == math.ceil(smp.TTestIndPower().solve_power(effect_size=0.3 / 0.4, alpha=alpha,
                                                          power=0.8))
    assert seeds_to_detect(0.4, 0.0, alpha) is None
    assert seeds_to_detect(0.0, 0.3, alpha) == 2


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
    base = [90.0, 90.4, 89.6, 90.2]
    mix = [91.0, 90.0, 90.6, 90.4]
    write_sweep(tmp_path, {("avg", None, None): base, ("mix", 0.5, 0.5): mix,
                           ("mix", 1.0, 0.0): [90.0]})
    data = json.loads(run_spe("plan", tmp_path, "--delta", "0.3", "--format", "json").stdout)
    pooled = math.sqrt((np.var(base, ddof=1) + np.var(mix, ddof=1)) / 2)
    assert data["sd"] == pytest.approx(pooled) and data["cells"] == 2
    assert data["seeds_to_detect"] == seeds_to_detect(pooled, 0.3, comparison_alpha(0.05, 2, "holm"))
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
