"""spe stats: every number against scipy.stats (and statsmodels, from the test extra) on fixed
data that produce each of the five verdicts."""
from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from scipy import stats

from spe_analysis.stats import analyze, compare
from spe_analysis.stats.corrections import holm
from spe_analysis.stats.intervals import BCA_MIN_N, delta_interval
from spe_analysis.stats.hypothesis import SEED, permutation

BASE = [90.0, 90.2, 89.9, 90.1, 90.3]
# One cell per verdict under Welch + Holm, margin 0.5 (cells named by the verdict they get).
FIVE = {
    ("mix", 0.5, 0.5): [91.5, 91.7, 91.4, 91.6, 91.8],        # better
    ("mix", 0.5, 1.0): [88.5, 88.7, 88.4, 88.6, 88.8],        # worse
    ("mix", 1.0, 0.0): [90.05, 90.15, 90.1, 90.0, 90.2],      # equivalent
    ("mix", 1.0, 0.5): [89.0, 91.5, 90.0, 92.0, 88.5],        # inconclusive
    ("mix", 1.0, 1.0): [90.1],                                # insufficient
}
EXPECTED = ["better", "worse", "equivalent", "inconclusive", "insufficient"]
MARGIN = 0.5


def samples(values):
    return {seed: v for seed, v in enumerate(values)}


def run(cells=FIVE, base=BASE, **options):
    return compare(samples(base), {c: samples(v) for c, v in cells.items()}, margin=MARGIN, **options)


def spread_cells(cells=FIVE):
    return [(np.array(v), cell) for cell, v in cells.items() if len(v) >= 2]


def test_five_verdicts_in_grid_order():
    result = run()
    assert [c["verdict"] for c in result["cells"]] == EXPECTED
    assert [(c["pool"], c["alpha"], c["beta"]) for c in result["cells"]] == list(FIVE)
    claim = result["claim"]
    assert {v: claim[v] for v in EXPECTED} == dict.fromkeys(EXPECTED, 1)
    assert claim["holds"] is True
    assert "mix alpha=0.5 beta=0.5" in claim["statement"] and "+1.50" in claim["statement"]
    assert "1 cell inconclusive: about" in claim["statement"]


def test_contract_fields_and_no_nan():
    result = run()
    # compare() has every top-level field but "metric", which analyze() adds (tested below)
    assert {"test", "correction", "margin", "significance", "baseline", "cells", "claim"} <= set(result)
    cell_keys = {"pool", "alpha", "beta", "n", "mean", "sd", "delta", "ci_low", "ci_high", "p_value",
                 "p_adjusted", "tost_p", "tost_p_adjusted", "hedges_g", "prob_superiority", "verdict"}
    for cell in result["cells"]:
        assert cell_keys <= set(cell)
    assert {"better", "equivalent", "worse", "inconclusive", "insufficient", "holds",
            "statement"} <= set(result["claim"])
    assert {"pool", "n", "mean", "sd"} <= set(result["baseline"])
    json.dumps(result, allow_nan=False)


def test_summaries_and_effects_match_scipy():
    base = np.array(BASE)
    for cell, row in zip(FIVE, run()["cells"]):
        a = np.array(FIVE[cell])
        assert row["n"] == a.size and row["mean"] == pytest.approx(a.mean())
        assert row["delta"] == pytest.approx(a.mean() - base.mean())
        if a.size < 2:
            assert row["sd"] is None and row["p_value"] is None and row["hedges_g"] is None
            continue
        assert row["sd"] == pytest.approx(a.std(ddof=1))
        u = stats.mannwhitneyu(a, base).statistic
        wins = sum((x > y) + 0.5 * (x == y) for x, y in itertools.product(a, base))
        assert row["prob_superiority"] == pytest.approx(u / (a.size * base.size))
        assert row["prob_superiority"] == pytest.approx(wins / (a.size * base.size))


def test_welch_holm_tost_match_statsmodels():
    sm = pytest.importorskip("statsmodels.stats.multitest")
    ws = pytest.importorskip("statsmodels.stats.weightstats")
    meta = pytest.importorskip("statsmodels.stats.meta_analysis")
    base = np.array(BASE)
    rows = [r for r in run()["cells"] if r["p_value"] is not None]
    data = [a for a, _ in spread_cells()]
    p = [stats.ttest_ind(a, base, equal_var=False).pvalue for a in data]
    tost = [ws.ttost_ind(a, base, -MARGIN, MARGIN, usevar="unequal")[0] for a in data]
    assert [r["p_value"] for r in rows] == pytest.approx(p, rel=1e-9)
    assert [r["p_adjusted"] for r in rows] == pytest.approx(sm.multipletests(p, method="holm")[1])
    assert [r["tost_p"] for r in rows] == pytest.approx(tost, rel=1e-6)
    assert [r["tost_p_adjusted"] for r in rows] == pytest.approx(
        sm.multipletests(tost, method="holm")[1], rel=1e-6)
    for a, row in zip(data, rows):
        ci = ws.CompareMeans(ws.DescrStatsW(a), ws.DescrStatsW(base)).tconfint_diff(usevar="unequal")
        assert (row["ci_low"], row["ci_high"]) == pytest.approx(ci) and row["ci_method"] == "t"
        g, _ = meta.effectsize_smd(a.mean(), a.std(ddof=1), a.size, base.mean(), base.std(ddof=1),
                                   base.size)
        assert row["hedges_g"] == pytest.approx(g)


@pytest.mark.parametrize("correction,method", [("bh", "fdr_bh"), ("by", "fdr_by"), ("none", None)])
def test_fdr_corrections_match_statsmodels(correction, method):
    sm = pytest.importorskip("statsmodels.stats.multitest")
    rows = [r for r in run(correction=correction)["cells"] if r["p_value"] is not None]
    p = [r["p_value"] for r in rows]
    tost = [r["tost_p"] for r in rows]
    expect = (p, tost) if method is None else (sm.multipletests(p, method=method)[1],
                                               sm.multipletests(tost, method=method)[1])
    assert [r["p_adjusted"] for r in rows] == pytest.approx(expect[0])
    assert [r["tost_p_adjusted"] for r in rows] == pytest.approx(expect[1])


def test_holm_by_hand_matches_statsmodels_with_ties():
    sm = pytest.importorskip("statsmodels.stats.multitest")
    p = [0.01, 0.04, 0.03, 0.01, 0.5, 0.2, 0.049]
    assert holm(p) == pytest.approx(sm.multipletests(p, method="holm")[1])


def test_dunnett_adjusts_with_scipy_and_keeps_raw_p():
    base = np.array(BASE)
    data = [a for a, _ in spread_cells()]
    result = run(correction="dunnett")
    rows = [r for r in result["cells"] if r["p_value"] is not None]
    expect = stats.dunnett(*data, control=base, rng=np.random.default_rng(SEED)).pvalue
    assert [r["p_adjusted"] for r in rows] == pytest.approx(expect, abs=1e-3)
    assert [r["p_value"] for r in rows] == pytest.approx(
        [stats.ttest_ind(a, base, equal_var=False).pvalue for a in data])
    lower = stats.dunnett(*[a + MARGIN for a in data], control=base, alternative="greater",
                          rng=np.random.default_rng(SEED)).pvalue
    upper = stats.dunnett(*[a - MARGIN for a in data], control=base, alternative="less",
                          rng=np.random.default_rng(SEED)).pvalue
    assert [r["tost_p_adjusted"] for r in rows] == pytest.approx(np.maximum(lower, upper), abs=1e-3)
    assert [r["verdict"] for r in result["cells"]][:2] == ["better", "worse"]


@pytest.mark.parametrize("test", ["paired", "mannwhitney", "permutation"])
def test_other_tests_match_scipy(test):
    base = np.array(BASE)
    rows = [r for r in run(test=test)["cells"] if r["p_value"] is not None]
    for (a, _), row in zip(spread_cells(), rows):
        if test == "paired":
            expect = stats.ttest_rel(a, base).pvalue if np.ptp(a - base) else 0.0
        elif test == "mannwhitney":
            expect = stats.mannwhitneyu(a, base, alternative="two-sided").pvalue
        else:
            expect = stats.permutation_test((a, base), lambda x, y, axis: x.mean(axis) - y.mean(axis),
                                            vectorized=True, n_resamples=np.inf).pvalue
        assert row["p_value"] == pytest.approx(expect)


def test_permutation_is_exact_for_small_samples():
    a, b = np.array([1.0, 2.5, 3.0]), np.array([0.5, 1.5, 0.7, 0.2])
    pooled = np.concatenate([a, b])
    observed = a.mean() - b.mean()
    null = np.array([pooled[list(i)].mean() - np.delete(pooled, list(i)).mean()
                     for i in itertools.combinations(range(pooled.size), a.size)])
    # scipy's two-sided p: twice the smaller one-sided p over all C(7, 3) = 35 splits
    one_sided = min(np.mean(null >= observed - 1e-12), np.mean(null <= observed + 1e-12))
    assert permutation(a, b) == pytest.approx(min(1.0, 2 * one_sided))


def test_paired_uses_only_shared_seeds():
    base = {0: 90.0, 1: 90.4, 2: 89.8, 3: 90.1}
    cell = {1: 90.9, 2: 90.1, 3: 90.5, 7: 95.0}
    row = compare(base, {("mix", 1.0, 0.0): cell}, test="paired")["cells"][0]
    assert row["n_pairs"] == 3 and row["n"] == 4
    shared = [1, 2, 3]
    assert row["p_value"] == pytest.approx(
        stats.ttest_rel([cell[s] for s in shared], [base[s] for s in shared]).pvalue)
    lonely = compare(base, {("mix", 1.0, 0.0): {5: 90.0, 6: 91.0}}, test="paired")["cells"][0]
    assert lonely["verdict"] == "insufficient" and lonely["n_pairs"] == 0


def test_bca_interval_from_enough_runs_matches_scipy():
    rng = np.random.default_rng(3)
    a, b = rng.normal(90.3, 0.4, BCA_MIN_N), rng.normal(90.0, 0.4, BCA_MIN_N + 2)
    low, high, method = delta_interval(a, b)
    expect = stats.bootstrap((a, b), lambda x, y, axis: x.mean(axis) - y.mean(axis), vectorized=True,
                             method="BCa", rng=np.random.default_rng(SEED)).confidence_interval
    assert method == "bca" and (low, high) == pytest.approx((expect.low, expect.high))
    assert delta_interval(a[:5], b[:5])[2] == "t"


# Edge cases: never a crash, never a NaN.

def test_one_run_cell_and_unequal_n():
    result = run({("mix", 0.0, 1.0): [91.0], ("mix", 1.0, 1.0): [90.5, 90.9, 90.7]},
                 base=BASE + [90.0, 90.2, 90.1])
    one, three = result["cells"]
    assert one["verdict"] == "insufficient" and one["sd"] is None and one["delta"] is not None
    assert three["p_value"] == pytest.approx(
        stats.ttest_ind([90.5, 90.9, 90.7], BASE + [90.0, 90.2, 90.1], equal_var=False).pvalue)
    json.dumps(result, allow_nan=False)


@pytest.mark.parametrize("correction", ["holm", "dunnett"])
@pytest.mark.parametrize("test", ["welch", "paired", "mannwhitney", "permutation"])
def test_zero_variance_limits(test, correction):
    cells = {("mix", 0.5, 0.5): [91.0] * 4, ("mix", 1.0, 0.0): [90.0] * 4}
    result = run(cells, base=[90.0] * 4, test=test, correction=correction)
    json.dumps(result, allow_nan=False)
    higher, same = result["cells"]
    assert same["p_value"] == 1.0 and same["verdict"] == "equivalent" and same["tost_p"] == 0.0
    assert same["ci_low"] == same["ci_high"] == 0.0 and same["hedges_g"] is None
    assert higher["hedges_g"] is None and higher["prob_superiority"] == 1.0
    if test in ("welch", "paired"):
        assert higher["p_value"] == 0.0 and higher["verdict"] == "better"


@pytest.mark.filterwarnings("ignore:Precision loss")  # scipy's own warning in the expected value
def test_no_baseline_spread_but_cell_spread_is_fine():
    result = run({("mix", 0.5, 0.5): [90.1, 90.3, 89.9]}, base=[90.0, 90.0, 90.0])
    row = result["cells"][0]
    assert row["p_value"] == pytest.approx(
        stats.ttest_ind([90.1, 90.3, 89.9], [90.0] * 3, equal_var=False).pvalue)
    json.dumps(result, allow_nan=False)


def test_baseline_too_small_makes_everything_insufficient():
    result = run(base=[90.0])
    assert {c["verdict"] for c in result["cells"]} == {"insufficient"}
    assert result["claim"]["holds"] is False and "cannot be checked" in result["claim"]["statement"]
    json.dumps(result, allow_nan=False)


def test_not_supported_statement():
    result = run({("mix", 0.5, 0.5): [88.5, 88.7, 88.4, 88.6, 88.8]})
    assert result["claim"]["holds"] is False
    assert result["claim"]["statement"].startswith("The claim is not supported")


def test_only_mix_cells_make_the_claim():
    result = run({("max", None, None): [91.5, 91.7, 91.4, 91.6, 91.8]})
    assert result["cells"][0]["verdict"] == "better" and result["claim"]["holds"] is False


def test_grid_order_mix_by_alpha_then_beta_then_other_pools():
    cells = {("learned", None, None): BASE, ("mix", 1.0, 0.0): BASE, ("max", None, None): BASE,
             ("mix", 0.0, 1.0): BASE, ("mix", 0.0, 0.5): BASE, ("min", None, None): BASE,
             ("mix", -0.5, 1.0): BASE}
    order = [(c["pool"], c["alpha"], c["beta"]) for c in run(cells)["cells"]]
    assert order == [("mix", -0.5, 1.0), ("mix", 0.0, 0.5), ("mix", 0.0, 1.0), ("mix", 1.0, 0.0),
                     ("max", None, None), ("min", None, None), ("learned", None, None)]


def test_analyze_reads_records_and_counts_exclusions():
    from synthetic_runs import synthetic_record

    records = [synthetic_record("avg", seed=s, final_acc=v) for s, v in enumerate(BASE)]
    records += [synthetic_record("mix", 0.5, 0.5, seed=s, final_acc=v)
                for s, v in enumerate(FIVE[("mix", 0.5, 0.5)])]
    records += [synthetic_record("mix", 0.5, 0.5, seed=9, final_acc=99.0, status="failed"),
                synthetic_record("avg", seed=8, final_acc=10.0, status="diverged"),
                synthetic_record("mix", 1.0, 0.0, seed=0, status="failed")]
    nan_run = synthetic_record("mix", 0.5, 0.5, seed=7)
    nan_run["metrics"]["final_test_acc"] = None
    result = analyze(records + [nan_run])
    assert result["metric"] == "final_test_acc" and result["excluded"] == {
        "failed": 2, "diverged": 1, "non_finite": 1, "unreadable": 0}
    better, all_failed = result["cells"]
    assert better["n"] == 5 and better["n_excluded"] == 2 and better["verdict"] == "better"
    assert all_failed["n"] == 0 and all_failed["verdict"] == "insufficient"
    assert all_failed["mean"] is None and all_failed["delta"] is None
    assert result["baseline"]["n"] == 5 and result["baseline"]["n_excluded"] == 1
    assert ("4 runs left out (2 failed, 1 diverged, 1 without a finite metric)"
            in result["claim"]["statement"])
    loss = analyze(records, metric="final_test_loss")
    assert loss["metric"] == "final_test_loss"
    json.dumps(result, allow_nan=False)


def test_analyze_refuses_bad_input():
    from spe_analysis.errors import SpeError
    from synthetic_runs import synthetic_record

    mix = [synthetic_record("mix", 0.5, 0.5, seed=s, final_acc=90.0 + s) for s in range(3)]
    with pytest.raises(SpeError, match="baseline"):
        analyze(mix)
    with pytest.raises(SpeError, match="no run records"):
        analyze([])
    with pytest.raises(SpeError, match="metric 'nope'.*final_test_acc"):
        analyze(mix, metric="nope")
    with pytest.raises(SpeError, match="--margin"):
        analyze(mix, margin=-1)
    with pytest.raises(SpeError, match="unknown correction"):
        analyze(mix, correction="bonferonni")
    assert math.isfinite(analyze(mix + [synthetic_record("avg", seed=0)])["baseline"]["mean"])


def test_a_diverged_run_never_makes_a_cell_better_or_equivalent():
    """Issue 21: dropping diverged runs as missing let a cell that diverged in 2 of 5 seeds be
    judged on its 3 survivors.  Counted (the default), such a cell is at most inconclusive and
    worse stays; a diverged avg run leaves no cell equivalent; --diverged exclude drops them."""
    diverged = {cell: {"diverged": 2} for cell in list(FIVE)[:3]}  # better, worse, equivalent cells
    counted = run(excluded=diverged)
    assert [c["verdict"] for c in counted["cells"]] == ["inconclusive", "worse", "inconclusive",
                                                        "inconclusive", "insufficient"]
    assert [c["n_diverged"] for c in counted["cells"]] == [2, 2, 2, 0, 0]
    assert counted["claim"]["holds"] is False and "2/7" in counted["claim"]["statement"]
    assert [c["verdict"] for c in run(excluded=diverged, diverged="exclude")["cells"]] == EXPECTED
    # avg diverged once: better stays (its survivors only flatter avg), equivalent does not
    base_diverged = run(excluded={("avg", None, None): {"diverged": 1}})
    assert base_diverged["baseline"]["n_diverged"] == 1
    assert [c["verdict"] for c in base_diverged["cells"]] == ["better", "worse", "inconclusive",
                                                              "inconclusive", "insufficient"]
