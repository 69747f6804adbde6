"""spe stats on sweep directories: formats, grouping, seed correlation and one-line refusals."""
from __future__ import annotations

import csv
import io
import json

import pytest

from conftest import assert_usage_error, run_spe
from synthetic_runs import grid_cells, write_sweep

BASELINE = ("avg", None, None)
BASE = [90.0, 90.2, 89.9, 90.1, 90.3]
CELLS = {
    BASELINE: BASE,
    ("mix", 0.5, 0.5): [91.5, 91.7, 91.4, 91.6, 91.8],
    ("mix", 0.5, 1.0): [88.5, 88.7, 88.4, 88.6, 88.8],
    ("mix", 1.0, 0.0): [90.05, 90.15, 90.1, 90.0, 90.2],
    ("mix", 1.0, 0.5): [89.0, 91.5, 90.0, 92.0, 88.5],
    ("mix", 1.0, 1.0): [90.1],
    ("max", None, None): [90.0, 90.0, 90.0],
}
VERDICTS = ["better", "worse", "equivalent", "inconclusive", "insufficient", "insufficient"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    # max: one ok run at 90.0, one failed and one diverged, so it is insufficient
    write_sweep(out, CELLS, statuses={(("max", None, None), 1): "failed",
                                      (("max", None, None), 2): "diverged"})
    return out


def test_json_follows_the_contract(sweep):
    result = run_spe("stats", sweep, "--format", "json")
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    assert [c["verdict"] for c in data["cells"]] == VERDICTS
    assert data["metric"] == "final_test_acc" and data["test"] == "welch"
    assert data["correction"] == "holm" and data["margin"] == 0.5 and data["significance"] == 0.05
    assert data["baseline"]["pool"] == "avg" and data["baseline"]["n"] == 5
    assert data["claim"]["holds"] is True and data["claim"]["better"] == 1
    assert data["excluded"] == {"failed": 1, "diverged": 1, "non_finite": 0, "unreadable": 0}
    assert "NaN" not in result.stdout


def test_table_has_baseline_on_top_and_the_statement(sweep):
    result = run_spe("stats", sweep)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    first_row = next(i for i, line in enumerate(lines) if "avg (baseline)" in line)
    assert first_row < next(i for i, line in enumerate(lines) if "alpha=0.5 beta=0.5" in line)
    for verdict in set(VERDICTS):
        assert verdict in result.stdout
    assert "The claim holds" in result.stdout


def test_csv_one_row_per_cell(sweep):
    result = run_spe("stats", sweep, "--format", "csv", "--test", "mannwhitney")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["pool"] for r in rows] == ["avg", "mix", "mix", "mix", "mix", "mix", "max"]
    assert rows[0]["verdict"] == "baseline" and rows[1]["verdict"] == "better"
    assert float(rows[1]["delta"]) == pytest.approx(1.5)


def test_markdown(sweep):
    result = run_spe("stats", sweep, "--format", "markdown", "--correction", "bh")
    assert result.code == 0, result.stderr
    assert "| cell | n | diverged | mean |" in result.stdout and "| avg (baseline) | 5 | 0/5 |" in result.stdout
    assert "| max | 1 | 1/2 |" in result.stdout  # 1 ok, 1 diverged (and 1 failed: not an outcome)
    assert "Benjamini-Hochberg" in result.stdout and "The claim holds" in result.stdout


def test_other_metric(sweep):
    data = json.loads(run_spe("stats", sweep, "--format", "json", "--metric", "final_test_loss").stdout)
    assert data["metric"] == "final_test_loss"


def test_seed_correlation(sweep):
    result = run_spe("stats", sweep, "--seed-correlation", "--format", "json")
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    better = data["cells"][0]
    # the better cell is the baseline shifted by 1.5: perfectly correlated, pairing removes all noise
    assert better["n_pairs"] == 5 and better["r"] == pytest.approx(1.0)
    assert better["variance_ratio"] == pytest.approx(0.0, abs=1e-9)
    assert data["cells"][-1]["r"] is None  # one shared seed: undefined, not NaN
    assert "pairing" in data["statement"]
    table = run_spe("stats", sweep, "--seed-correlation")
    assert table.code == 0 and "variance ratio" in table.stdout


def test_group_by_splits_differing_runs(tmp_path):
    write_sweep(tmp_path, {BASELINE: BASE, ("mix", 0.5, 0.5): BASE}, dataset="digits")
    write_sweep(tmp_path, {BASELINE: BASE, ("mix", 0.5, 0.5): [b + 2 for b in BASE]},
                dataset="fashion-mnist")
    refused = run_spe("stats", tmp_path)
    assert_usage_error(refused, "dataset", "--group-by")
    grouped = run_spe("stats", tmp_path, "--group-by", "dataset", "--format", "json")
    assert grouped.code == 0, grouped.stderr
    data = json.loads(grouped.stdout)
    assert [d["group"] for d in data] == [{"dataset": "digits"}, {"dataset": "fashion-mnist"}]
    assert [d["cells"][0]["verdict"] for d in data] == ["equivalent", "better"]
    rows = list(csv.DictReader(io.StringIO(
        run_spe("stats", tmp_path, "--group-by", "dataset", "--format", "csv").stdout)))
    assert [r["dataset"] for r in rows] == ["digits"] * 2 + ["fashion-mnist"] * 2
    assert_usage_error(run_spe("stats", tmp_path, "--group-by", "colour"), "colour", "dataset")


def test_missing_baseline_is_one_line(tmp_path):
    write_sweep(tmp_path, {("mix", 0.5, 0.5): BASE})
    assert_usage_error(run_spe("stats", tmp_path), "baseline")


def test_empty_or_missing_dir_is_one_line(tmp_path):
    assert_usage_error(run_spe("stats", tmp_path / "nope"), "not a directory")
    (tmp_path / "runs").mkdir()
    assert_usage_error(run_spe("stats", tmp_path), "no run records")


@pytest.mark.parametrize("args,fragment", [
    (["--test", "ttest"], "welch"), (["--correction", "bonf"], "holm"),
    (["--format", "xml"], "markdown"), (["--metric", "acc"], "final_test_acc"),
    (["--margin", "0"], "--margin"), (["--significance", "1.5"], "--significance"),
])
def test_bad_options_are_one_line(sweep, args, fragment):
    assert_usage_error(run_spe("stats", sweep, *args), fragment)


def test_dunnett_from_the_command_line(tmp_path):
    cells = {BASELINE: BASE}
    cells.update({cell: BASE for cell in grid_cells([0, 1], [0, 1])})
    write_sweep(tmp_path, cells)
    data = json.loads(run_spe("stats", tmp_path, "--format", "json", "--correction", "dunnett").stdout)
    assert [(c["alpha"], c["beta"]) for c in data["cells"]] == [(0, 1), (1, 0), (1, 1)]
    assert all(c["p_adjusted"] == pytest.approx(1.0, abs=1e-3) for c in data["cells"])


def test_the_committed_diverged_run_shows_in_the_learned_row():
    """Issue 21: figures/data/fashion-mnist-se-resnet20 has one diverged learned run (seed 3)."""
    from conftest import REPO
    directory = REPO / "figures" / "data" / "fashion-mnist-se-resnet20"
    table = run_spe("stats", directory)
    assert table.code == 0, table.stderr
    learned = next(line for line in table.stdout.splitlines() if "learned" in line)
    assert "1/5" in learned
    data = json.loads(run_spe("stats", directory, "--format", "json").stdout)
    cell = next(c for c in data["cells"] if c["pool"] == "learned")
    assert (cell["n"], cell["n_diverged"], data["diverged"]) == (4, 1, "count")
    assert "learned 1/5" in data["claim"]["statement"]
    assert_usage_error(run_spe("stats", directory, "--diverged", "ignore"), "count, exclude")
