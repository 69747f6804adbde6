"""spe meta --moderator's numbers against metafor, the reference implementation of the field:
live where Rscript and metafor are installed, and through metafor's BCG example as fixed
numbers (tests/reference/metafor_bcg.json) everywhere; then the properties metafor does not
print (the model without moderators is the pooled one, a noise-free slope is recovered)."""
from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from spe_analysis.plots.settings import read_directories
from spe_analysis.stats.across_settings import meta_analyze
from spe_analysis.stats.meta import pool
from spe_analysis.stats.meta_regression import fit, predict

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "tests" / "reference"
TOL = 1e-6
TESTS = {"hksj-floor": "adhoc", "hksj": "knha", "normal": "z"}  # spe ci -> metafor test
METHODS = {"pm": "PM", "dl": "DL"}


def _rng_data(seed: int, k: int):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.03, 0.3, k), rng.standard_normal(k)


def _slope_case():
    """k = 8 settings on a budget 1..8 with a known slope of -0.25 points per unit, plus
    between-setting noise (tau = 0.4) and within-setting noise of variance v."""
    v, z = _rng_data(1, 8)
    x = np.arange(1.0, 9.0)
    y = 0.8 - 0.25 * x + 0.4 * z + np.sqrt(v) * _rng_data(2, 8)[1]
    return {"yi": y, "vi": v, "mods": {"budget": x}, "levels": {}}


def _categorical_case():
    """k = 9: a three-level host (indicators, cbam the reference) and a numeric budget."""
    v, z = _rng_data(3, 9)
    host = ["se", "eca", "cbam"] * 3
    budget = np.array([2.0, 2, 2, 4, 4, 4, 8, 8, 8])
    shift = {"cbam": 0.0, "eca": -1.5, "se": -1.0}
    y = np.array([shift[h] for h in host]) + 0.1 * budget + 0.3 * z
    return {"yi": y, "vi": v, "mods": {"host": host, "budget": budget},
            "levels": {"host": ["cbam", "eca", "se"]}}


def _floor_case():
    """Estimates that agree more closely than their variances say (Knapp-Hartung factor below
    1), where the floored and the plain method differ."""
    v = np.array([0.2, 0.25, 0.3, 0.2, 0.22, 0.28])
    return {"yi": np.array([0.10, 0.05, 0.12, 0.02, 0.08, 0.06]), "vi": v,
            "mods": {"budget": np.arange(1.0, 7.0)}, "levels": {}}


SYNTHETIC = {"slope": _slope_case(), "categorical": _categorical_case(), "floor": _floor_case()}


def _design(case) -> tuple[np.ndarray, list[str]]:
    """The design spe's moderators build, written out: intercept, numbers as they are, one
    indicator per level besides the first."""
    columns, names = [np.ones(len(case["yi"]))], ["intercept"]
    for name, values in case["mods"].items():
        levels = case["levels"].get(name)
        if levels is None:
            columns.append(np.asarray(values, float))
            names.append(name)
        else:
            for level in levels[1:]:
                columns.append(np.array([value == level for value in values], float))
                names.append(f"{name}={level}")
    return np.column_stack(columns), names


def _row(case, point) -> list[float]:
    return list(_design({**case, "yi": [0], "mods": {k: [point[k]] for k in case["mods"]}})[0][0])


def _jsonable(value):
    return value.tolist() if isinstance(value, np.ndarray) else value


def _require_rscript() -> None:
    if shutil.which("Rscript") is None:
        pytest.skip("Rscript is not installed (apt-get install r-cran-metafor): the live "
                    "comparison with metafor is skipped; the BCG reference numbers still run")


def _rscript(*args: str) -> str:
    """What ``Rscript ARGS`` prints; the test is skipped where R or metafor is missing."""
    _require_rscript()
    out = subprocess.run(["Rscript", *args], capture_output=True, text=True, timeout=600)
    if out.returncode != 0 and "there is no package called" in out.stderr:
        pytest.skip("R's metafor or jsonlite package is missing (apt-get install r-cran-metafor)")
    assert out.returncode == 0, out.stderr
    return out.stdout


def _run_metafor(cases: list[dict], folder: Path) -> list[dict]:
    path = folder / "cases.json"
    path.write_text(json.dumps([{k: ({n: _jsonable(v) for n, v in c[k].items()} if isinstance(c[k], dict)
                                     else _jsonable(c[k])) for k in c} for c in cases]))
    return json.loads(_rscript(str(REFERENCE / "metafor_regression.R"), str(path)))


def assert_matches_metafor(ours: dict, ref: dict, method_re: str) -> None:
    """Every number of one spe regression (as in spe.meta/1) against metafor's to TOL."""
    approx = lambda x: pytest.approx(x, abs=TOL)  # noqa: E731
    coefficients = ours["coefficients"]
    for key, r_key in (("estimate", "beta"), ("se", "se"), ("ci_low", "ci_lb"),
                       ("ci_high", "ci_ub"), ("p", "pval")):
        assert [c[key] for c in coefficients] == approx(list(np.atleast_1d(ref[r_key]))), key
    assert ours["tau2"] == approx(ref["tau2"])
    assert (ours["qm"], ours["qm_p"]) == approx((ref["QM"], ref["QMp"]))
    assert [ours["qm_df1"], ours["qm_df2"]] == list(np.atleast_1d(ref["QMdf"]))
    assert (ours["qe"], ours["qe_p"]) == approx((ref["QE"], ref["QEp"]))
    assert ours["r2"] == approx(ref["R2"] / 100)
    if method_re == "dl":  # metafor's I^2 is spe's for DL (and differs by definition for PM)
        assert ours["i2"] == approx(ref["I2"] / 100)
    if ours["predictions"]:
        pred = ref["predictions"]
        for key, r_key in (("delta", "pred"), ("se", "se"), ("ci_low", "ci_lb"), ("ci_high", "ci_ub")):
            assert [p[key] for p in ours["predictions"]] == approx(list(np.atleast_1d(pred[r_key]))), key


def _predict(result, x):
    return predict([c.estimate for c in result.coefficients], result.vcov, result.df, x)


def _as_json(result) -> dict:
    """A Fit as the regression object of spe.meta/1 shows it."""
    return {**result.to_dict(), "coefficients": [vars(c) for c in result.coefficients]}


def _synthetic_fits() -> list[tuple[str, dict, dict]]:
    """(label, spe's regression as in spe.meta/1, the case for metafor) for every synthetic
    case, tau^2 estimator and interval method."""
    fits = []
    for name, case in SYNTHETIC.items():
        X, names = _design(case)
        at = ([{"budget": 2.5}, {"budget": 7.0}] if name != "categorical"
              else [{"host": "eca", "budget": 3.0}, {"host": "cbam", "budget": 8.0}])
        for method_re in METHODS:
            for ci, test in TESTS.items():
                result = fit(case["yi"], case["vi"], X, names, method_re, ci)
                predictions = [vars(_predict(result, _row(case, point))) for point in at]
                fits.append((f"{name} {method_re} {ci}",
                             {**_as_json(result), "predictions": predictions},
                             {**case, "method": METHODS[method_re], "test": test, "at": at}))
    return fits


COMMITTED = [("baseline_acc", ["baseline_acc=72", "baseline_acc=90"]),
             ("attention", ["attention=eca"]), ("dataset", ["dataset=fashion-mnist"])]


def _committed_fits() -> list[tuple[str, dict, dict]]:
    """The same through the whole of spe meta on the five committed settings: records ->
    settings -> moderators -> regression, with the default intervals (hksj-floor).  metafor gets
    the variances spe regresses on, those the pooled model pools under hksj-floor: the plain
    sd^2/n of both arms inflated by (t_Welch / z)^2 (within_variance), with test="adhoc"."""
    records = read_directories(sorted((REPO / "figures" / "data").iterdir()))
    plain = meta_analyze(records, ci="hksj")
    fits = []
    for method_re in METHODS:
        for moderator, at in COMMITTED:
            result = meta_analyze(records, method_re=method_re, moderators=[moderator], at=at)
            reg = result["regression"]
            assert reg["ci"] == result["ci"] == "hksj-floor"
            for cell, plain_cell in zip(result["cells"], plain["cells"]):
                for study, plain_study in zip(cell["studies"], plain_cell["studies"]):
                    if study["variance"] is not None:  # t-based: larger than the plain variance
                        assert study["variance"] > plain_study["variance"] > 0
            levels = reg["levels"].get(moderator)
            labels = [v.rsplit("/", 1)[-1] if isinstance(v, str) else v
                      for v in (s["values"][moderator] for s in reg["settings"])]
            points = [{moderator: float(a.split("=")[1]) if levels is None else a.split("=")[1]}
                      for a in at]
            for cell, fitted in zip(result["cells"], reg["cells"]):
                usable = [i for i, s in enumerate(cell["studies"]) if s["delta"] is not None]
                if fitted["note"]:
                    assert len(usable) <= 2  # max and min ran in two settings only
                    continue
                fits.append((f"{cell['pool']} {cell['alpha']} {cell['beta']} {moderator} {method_re}", fitted,
                             {"yi": [cell["studies"][i]["delta"] for i in usable],
                              "vi": [cell["studies"][i]["variance"] for i in usable],
                              "mods": {moderator: [labels[i] for i in usable]},
                              "levels": {moderator: levels} if levels else {},
                              "method": METHODS[method_re], "test": "adhoc", "at": points}))
    return fits


@pytest.fixture(scope="module")
def against_metafor(tmp_path_factory):
    """Every live case in one R session (starting R and metafor takes seconds)."""
    _require_rscript()
    synthetic, committed = _synthetic_fits(), _committed_fits()
    fits = synthetic + committed
    refs = _run_metafor([case for _, _, case in fits], tmp_path_factory.mktemp("metafor"))
    return {"synthetic": list(zip(synthetic, refs)), "committed": list(zip(committed, refs[len(synthetic):]))}


def test_synthetic_regressions_match_metafor(against_metafor):
    """PM and DL, each interval method, numeric and categorical moderators, with predictions."""
    assert len(against_metafor["synthetic"]) == 18
    for (label, ours, case), ref in against_metafor["synthetic"]:
        assert_matches_metafor(ours, ref, case["method"].lower())
        if label.startswith("slope"):
            slope = ours["coefficients"][1]
            assert slope["ci_low"] < -0.25 < slope["ci_high"], label  # the known slope is inside


def test_the_committed_settings_match_metafor(against_metafor):
    # 9 cells (8 mixes and learned) with 5 settings, 3 moderators, PM and DL
    assert len(against_metafor["committed"]) == 54
    for (label, ours, case), ref in against_metafor["committed"]:
        assert_matches_metafor(ours, ref, case["method"].lower())


def test_the_floor_case_has_a_knapp_hartung_factor_below_one():
    """So the synthetic comparison tells the floored method from the plain one."""
    case = SYNTHETIC["floor"]
    X, names = _design(case)
    plain, floored, normal = (fit(case["yi"], case["vi"], X, names, "pm", ci)
                              for ci in ("hksj", "hksj-floor", "normal"))
    assert plain.coefficients[1].se < floored.coefficients[1].se == pytest.approx(normal.coefficients[1].se)
    assert floored.df == plain.df == 4 and normal.df is None


# ---------------------------------------------------------------- metafor's BCG example, fixed

BCG = json.loads((REFERENCE / "metafor_bcg.json").read_text())


def _bcg_effects() -> tuple[np.ndarray, np.ndarray]:
    """Log risk ratios and their variances from the trial counts (escalc("RR"), written out)."""
    d = {k: np.array(v, float) for k, v in BCG["data"].items()}
    y = np.log(d["tpos"] / (d["tpos"] + d["tneg"])) - np.log(d["cpos"] / (d["cpos"] + d["cneg"]))
    v = 1 / d["tpos"] - 1 / (d["tpos"] + d["tneg"]) + 1 / d["cpos"] - 1 / (d["cpos"] + d["cneg"])
    return y, v


def test_bcg_effects_are_metafors():
    y, v = _bcg_effects()
    assert y == pytest.approx(BCG["data"]["yi"], abs=1e-12)
    assert v == pytest.approx(BCG["data"]["vi"], abs=1e-12)


@pytest.mark.parametrize("reference", BCG["fits"], ids=lambda f: f"{f['method']}-{f['test']}")
def test_bcg_meta_regression_on_latitude_matches_metafor(reference):
    y, v = _bcg_effects()
    latitude = np.array(BCG["data"]["ablat"], float)
    X = np.column_stack([np.ones(len(y)), latitude])
    ci = {t: c for c, t in TESTS.items()}[reference["test"]]
    method_re = reference["method"].lower()
    result = fit(y, v, X, ["intercept", "ablat"], method_re, ci)
    at = reference["predictions"]["at"]
    ours = {**_as_json(result), "predictions": [vars(_predict(result, [1.0, a])) for a in at]}
    assert_matches_metafor(ours, {**reference, "QMdf": [1, None if ci == "normal" else 11]},
                           method_re)


def test_bcg_reference_is_what_its_r_script_prints():
    assert json.loads(_rscript(str(REFERENCE / "metafor_bcg.R"))) == BCG


# ---------------------------------------------------------------- properties without R

@pytest.mark.parametrize("ci", ["hksj", "normal"])
@pytest.mark.parametrize("method_re", list(METHODS))
def test_without_moderators_the_regression_is_the_pooled_model(method_re, ci):
    case = SYNTHETIC["slope"]
    pooled = pool(case["yi"], case["vi"], method_re, ci)
    result = fit(case["yi"], case["vi"], np.ones((8, 1)), ["intercept"], method_re, ci)
    (intercept,) = result.coefficients
    assert result.tau2 == pytest.approx(pooled.tau2, abs=1e-12) and pooled.tau2 > 0
    assert (intercept.estimate, intercept.se, intercept.ci_low, intercept.ci_high, intercept.p) == \
        pytest.approx((pooled.delta, pooled.se, pooled.ci_low, pooled.ci_high, pooled.p), abs=1e-12)
    assert (result.i2, result.qe, result.qe_p) == pytest.approx((pooled.i2, pooled.q, pooled.q_p))
    assert result.r2 == 0.0 and result.qm is None and result.qm_df1 == 0


def test_a_noise_free_slope_is_recovered_exactly():
    x = np.array([2.0, 4, 6, 8, 10])
    result = fit(1.5 - 0.2 * x, [0.1, 0.2, 0.1, 0.3, 0.2], np.column_stack([np.ones(5), x]),
                 ["intercept", "budget"], "pm", "hksj-floor")
    assert [c.estimate for c in result.coefficients] == pytest.approx([1.5, -0.2], abs=1e-12)
    assert result.tau2 == 0.0 and result.qe == pytest.approx(0.0, abs=1e-20)
    # the floor keeps the model-based variance where the residuals vanish
    assert result.coefficients[1].se == pytest.approx(math.sqrt(
        np.linalg.inv((np.column_stack([np.ones(5), x]).T * (1 / np.array([0.1, 0.2, 0.1, 0.3, 0.2])))
                      @ np.column_stack([np.ones(5), x]))[1, 1]))


def test_moderators_far_from_zero_are_well_conditioned():
    """train_subset-sized moderators: the same fit as on the moderator rescaled."""
    case = SYNTHETIC["slope"]
    X, names = _design(case)
    big = X * np.array([1.0, 20000.0])
    small, large = (fit(case["yi"], case["vi"], d, names, "pm", "hksj") for d in (X, big))
    assert large.coefficients[1].estimate * 20000 == pytest.approx(small.coefficients[1].estimate, rel=1e-9)
    assert large.coefficients[1].p == pytest.approx(small.coefficients[1].p, rel=1e-9)


def test_too_few_estimates_or_a_rank_deficient_design_are_refused():
    with pytest.raises(ValueError, match="need at least 3"):
        fit([0.1, 0.2], [0.1, 0.1], [[1, 0], [1, 1]], ["intercept", "x"])
    with pytest.raises(ValueError, match="not of full rank"):
        fit([0.1, 0.2, 0.3], [0.1, 0.1, 0.1], [[1, 2], [1, 2], [1, 2]], ["intercept", "x"])
