"""spe meta --moderator from run records: which values make the design, the regression object
of spe.meta/1, its table, Markdown and CSV, the moderator figure, and one-line refusals.
(The numbers themselves are checked against metafor in test_meta_regression.py.)"""
from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from conftest import assert_usage_error, run_spe
from spe_analysis import plots
from spe_analysis.plots import load_meta, moderator
from spe_analysis.plots.style import paper_style
from spe_analysis.stats.across_settings import meta_analyze
from spe_analysis.stats.meta_regression import fit
from synthetic_runs import synthetic_record, write_sweep

AVG = ("avg", None, None)
CELL_A, CELL_B = ("mix", 0.5, 0.5), ("mix", 1.0, 0.0)
NOISE = (0.1, -0.2, 0.1)
# (attention, epochs) -> baseline level; CELL_A's delta grows by 0.25 per epoch, 0.5 lower for eca
SETTINGS = {("se", 2): 88.0, ("se", 4): 90.0, ("se", 6): 91.0,
            ("eca", 2): 87.5, ("eca", 4): 89.0, ("eca", 6): 90.5}


def _cells(attention: str, epochs: int, base: float) -> dict:
    delta = -1.5 + 0.25 * epochs - (0.5 if attention == "eca" else 0.0)
    cells = {AVG: [base + d for d in NOISE], CELL_A: [base + delta + d for d in reversed(NOISE)]}
    if epochs != 6:  # CELL_B in four settings only
        cells[CELL_B] = [base - 1.0 + d for d in (0.2, 0.0, -0.1)]
    return cells


def records_of() -> list[dict]:
    return [synthetic_record(*cell, seed=seed, final_acc=acc, attention=attention, epochs=epochs)
            for (attention, epochs), base in SETTINGS.items()
            for cell, accs in _cells(attention, epochs, base).items() for seed, acc in enumerate(accs)]


@pytest.fixture(scope="module")
def records():
    return records_of()


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory):
    root = tmp_path_factory.mktemp("settings")
    for (attention, epochs), base in SETTINGS.items():
        write_sweep(root / f"{attention}-{epochs}", _cells(attention, epochs, base),
                    attention=attention, epochs=epochs)
    return sorted(root.iterdir())


def _cell(result, cell):
    return next(c for c in result["regression"]["cells"] if (c["pool"], c["alpha"], c["beta"]) == cell)


def _studies(result, cell):
    return next(c["studies"] for c in result["cells"] if (c["pool"], c["alpha"], c["beta"]) == cell)


def test_a_numeric_config_key_enters_as_it_is(records):
    result = meta_analyze(records, moderators=["epochs"], at=["epochs=3", "epochs=10"])
    reg = result["regression"]
    assert (reg["moderators"], reg["kinds"], reg["columns"]) == (["epochs"], {"epochs": "numeric"},
                                                                  ["intercept", "epochs"])
    assert (reg["method_re"], reg["ci"], reg["at"]) == ("pm", "hksj-floor", [{"epochs": 3.0}, {"epochs": 10.0}])
    epochs = [s["values"]["epochs"] for s in reg["settings"]]
    assert epochs == [int(s["config"]["epochs"]) for s in result["settings"]]
    studies = _studies(result, CELL_A)
    direct = fit([s["delta"] for s in studies], [s["variance"] for s in studies],
                 np.column_stack([np.ones(6), epochs]), ["intercept", "epochs"])
    cell = _cell(result, CELL_A)
    assert cell["coefficients"][1]["estimate"] == pytest.approx(direct.coefficients[1].estimate)
    assert cell["coefficients"][1]["estimate"] == pytest.approx(0.25, abs=0.05)  # the true slope
    assert cell["note"] is None and cell["k"] == 6 and cell["df"] == 4
    at3, at10 = cell["predictions"]
    assert at3["at"] == {"epochs": 3.0}
    assert at3["delta"] == pytest.approx(cell["coefficients"][0]["estimate"] + 3 * cell["coefficients"][1]["estimate"])
    assert at10["ci_high"] - at10["ci_low"] > at3["ci_high"] - at3["ci_low"]  # far from the data
    json.dumps(result, allow_nan=False)


def test_a_text_key_enters_as_indicators_of_the_levels_after_the_first(records):
    result = meta_analyze(records, moderators=["attention", "epochs"], at=["attention=se", "epochs=4"])
    reg = result["regression"]
    assert reg["columns"] == ["intercept", "attention=se", "epochs"]
    assert reg["levels"] == {"attention": ["eca", "se"]} and reg["kinds"]["attention"] == "categorical"
    cell = _cell(result, CELL_A)
    eca_gap = cell["coefficients"][1]["estimate"]
    assert eca_gap == pytest.approx(0.5, abs=0.1)  # se lies 0.5 above eca, the reference
    assert cell["qm_df1"] == 2 and cell["df"] == 3
    (point,) = cell["predictions"]
    assert point["at"] == {"attention": "se", "epochs": 4.0}


def test_baseline_acc_is_each_settings_avg_mean(records):
    result = meta_analyze(records, moderators=["baseline_acc"])
    values = [s["values"]["baseline_acc"] for s in result["regression"]["settings"]]
    assert values == [s["baseline"]["mean"] for s in result["settings"]]
    assert values == pytest.approx([base for _, base in sorted(SETTINGS.items())])


def test_a_cell_with_too_few_settings_for_the_coefficients_gets_a_note(records):
    result = meta_analyze(records, moderators=["attention", "epochs"])
    cell = _cell(result, CELL_B)  # four settings, two of them at epochs 2 and two at 4: p = 3, k = 4
    assert cell["k"] == 4 and cell["note"] is None
    result = meta_analyze([r for r in records if r["config"]["epochs"] != 2 or r["config"]["pool"] != "mix"
                           or r["config"]["alpha"] != 1.0], moderators=["epochs"])
    cell = _cell(result, CELL_B)  # now only the epochs = 4 settings have it: epochs does not vary
    assert cell["k"] == 2 and cell["coefficients"] == [] and cell["qm_p"] is None
    assert "need at least 3" in cell["note"]


def test_json_table_markdown_and_csv_show_the_regression(sweeps):
    args = ["meta", *sweeps, "--moderator", "epochs", "--at", "epochs=5"]
    data = json.loads(run_spe(*args, "--format", "json").stdout)
    cell = _cell(data, CELL_A)
    slope = cell["coefficients"][1]
    shown = f"{slope['estimate']:+.3f} ({slope['ci_low']:+.3f} to {slope['ci_high']:+.3f})"
    table = run_spe(*args)
    markdown = run_spe(*args, "--format", "markdown")
    for out in (table, markdown):
        assert out.code == 0, out.stderr
        assert "Meta-regression of final_test_acc on epochs" in out.stdout
        assert shown in out.stdout and "Δ at epochs=5" in out.stdout
    assert "| mix alpha=0.5 beta=0.5 | 6 |" in markdown.stdout
    rows = list(csv.DictReader(io.StringIO(run_spe(*args, "--format", "csv").stdout)))
    mine = [r for r in rows if (r["alpha"], r["beta"]) == ("0.5", "0.5")]
    assert [r["term"] for r in mine] == ["intercept", "epochs", "at epochs=5"]
    assert float(mine[1]["estimate"]) == pytest.approx(slope["estimate"])
    assert float(mine[2]["estimate"]) == pytest.approx(cell["predictions"][0]["delta"])
    assert float(mine[0]["r2"]) == pytest.approx(cell["r2"])
    plain = json.loads(run_spe(*args, "--format", "json", "--ci", "hksj").stdout)
    assert plain["regression"]["ci"] == plain["ci"] == "hksj"  # the regression follows --ci


def test_the_regression_uses_the_pooled_models_variances_and_ci(records):
    """hksj-floor (the default) regresses on the t-based variances it pools; hksj on the plain
    ones: the same studies, each fitted by meta_regression.fit with the pooled model's ci."""
    epochs = [float(config["epochs"]) for config in
              (s["config"] for s in meta_analyze(records)["settings"])]
    for ci in ("hksj-floor", "hksj", "normal"):
        result = meta_analyze(records, ci=ci, moderators=["epochs"])
        studies = _studies(result, CELL_A)
        direct = fit([s["delta"] for s in studies], [s["variance"] for s in studies],
                     np.column_stack([np.ones(6), epochs]), ["intercept", "epochs"], "pm", ci)
        cell = _cell(result, CELL_A)
        assert result["regression"]["ci"] == ci
        assert cell["coefficients"][1]["se"] == pytest.approx(direct.coefficients[1].se)
    floor, plain = (_studies(meta_analyze(records, ci=ci, moderators=["epochs"]), CELL_A)
                    for ci in ("hksj-floor", "hksj"))
    assert all(f["variance"] > p["variance"] for f, p in zip(floor, plain))  # t-inflated


def test_bad_moderators_exit_2_with_one_line(sweeps, tmp_path):
    meta = ["meta", *sweeps]
    assert_usage_error(run_spe(*meta, "--moderator", "depth"), "unknown moderator 'depth'",
                       "attention, epochs", "baseline_acc")
    assert_usage_error(run_spe(*meta, "--moderator", "model"), "does not vary")
    assert_usage_error(run_spe(*meta, "--moderator", "epochs", "--moderator", "epochs"), "twice")
    assert_usage_error(run_spe("meta", *sweeps[:2], sweeps[3], "--moderator", "attention", "--moderator",
                               "epochs"), "3 settings cannot fit 3 coefficients", "at least 4")
    assert_usage_error(run_spe(*meta, "--at", "epochs=3"), "--moderator")
    assert_usage_error(run_spe(*meta, "--moderator", "epochs", "--at", "epochs"), "KEY=VALUE")
    assert_usage_error(run_spe(*meta, "--moderator", "epochs", "--at", "epochs=many"), "finite number")
    assert_usage_error(run_spe(*meta, "--moderator", "epochs", "--at", "dataset=x"), "not a moderator")
    assert_usage_error(run_spe(*meta, "--moderator", "attention", "--at", "attention=cbam"),
                       "unknown level", "eca, se")
    assert_usage_error(run_spe(*meta, "--moderator", "attention", "--moderator", "epochs",
                               "--at", "epochs=2"), "no value of attention")
    assert_usage_error(run_spe(*meta, "--moderator", "epochs", "--ci", "knha"), "--ci", "hksj-floor")
    assert run_spe(*meta, "--moderator", "epochs", "--moderator-ci", "hksj").code == 2  # now --ci


def test_settings_that_share_avg_runs_are_refused_with_a_moderator(tmp_path):
    write_sweep(tmp_path / "reg", {AVG: [90.0, 90.2, 89.9]})
    for reg, accs in ((0.1, [88.0, 88.4, 88.1]), (0.0, [90.1, 90.3, 90.0]), (0.01, [89.0, 89.1, 89.3])):
        write_sweep(tmp_path / "reg", {("learned", None, None): accs}, pool_reg=reg)
    assert_usage_error(run_spe("meta", tmp_path / "reg", "--moderator", "pool_reg"), "share avg runs")


# ---------------------------------------------------------------- the moderator figure

def test_the_figure_draws_each_mix_cell_against_the_moderator(sweeps, tmp_path):
    result = run_spe("plot", *sweeps, "--kind", "moderator", "--moderator", "epochs", "--out", tmp_path)
    assert result.code == 0, result.stderr
    meta = load_meta(sweeps, moderators=["epochs"])
    with paper_style():
        fig = moderator.plot(meta)
    titles = [ax.get_title(loc="left") for ax in fig.axes if ax.get_visible()]
    slope = _cell(meta.result, CELL_A)["coefficients"][1]["estimate"]
    assert any(t.startswith("α=0.5, β=0.5") and f"slope {slope:+.3f}" in t for t in titles)
    assert any(t.startswith("α=1, β=0") for t in titles)
    assert fig._supxlabel.get_text() == "epochs"


def test_the_figure_defaults_to_baseline_accuracy_and_refuses_a_text_moderator(sweeps, tmp_path):
    meta = load_meta(sweeps)
    assert moderator.regression_of(meta)["moderators"] == ["baseline_acc"]
    assert moderator.unsupported(load_meta(sweeps[:2])).startswith("2 settings cannot fit")
    assert_usage_error(run_spe("plot", *sweeps, "--kind", "moderator", "--moderator", "attention",
                               "--out", tmp_path), "one numeric moderator")
    drawn = plots.draw(load_meta(sweeps[:2]), "all", tmp_path)
    assert "moderator" in drawn.skipped and "forest" in drawn.files


@pytest.mark.parametrize("width", ["single", "double"])
def test_the_figure_is_legible_and_nothing_overlaps(sweeps, width, monkeypatch):
    """The checks of test_plots, on the moderator figure."""
    import test_plots

    monkeypatch.setattr(test_plots, "KINDS", plots.META_KINDS)
    test_plots.test_text_is_legible_and_nothing_overlaps(load_meta(sweeps, moderators=["epochs"]),
                                                         "moderator", width)
