"""spe meta on sweep directories: the four formats, --group-by, and one-line refusals."""
from __future__ import annotations

import csv
import io
import json

import pytest

from conftest import assert_usage_error, run_spe
from synthetic_runs import write_sweep

AVG = ("avg", None, None)
CELL_A, CELL_B = ("mix", 0.5, 0.5), ("mix", 1.0, 0.0)
SWEEPS = {  # attention -> cells; every setting about 1 point worse at CELL_B
    "se": {AVG: [90.0, 90.2, 89.9], CELL_A: [90.1, 90.3, 90.0], CELL_B: [89.0, 89.3, 89.1]},
    "eca": {AVG: [91.0, 91.3, 90.8], CELL_A: [91.6, 91.9, 91.5], CELL_B: [90.0, 90.2, 89.9]},
    "cbam": {AVG: [89.5, 89.6, 89.2], CELL_A: [89.4, 89.8, 89.5]},  # no CELL_B
}


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory):
    root = tmp_path_factory.mktemp("settings")
    for attention, cells in SWEEPS.items():
        write_sweep(root / attention, cells, attention=attention)
    return root


@pytest.fixture(scope="module")
def dirs(sweeps):
    return [sweeps / name for name in SWEEPS]


@pytest.fixture(scope="module")
def as_json(dirs):
    result = run_spe("meta", *dirs, "--format", "json")
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


def test_json_is_spe_meta_1(as_json):
    assert as_json["schema"] == "spe.meta/1"
    assert (as_json["method_re"], as_json["ci"], as_json["correction"]) == ("pm", "hksj-floor", "holm")
    assert [s["name"] for s in as_json["settings"]] == ["attention=cbam", "attention=eca",
                                                         "attention=se"]
    cells = {(c["pool"], c["alpha"], c["beta"]): c for c in as_json["cells"]}
    assert cells[CELL_A]["k"] == 3 and cells[CELL_B]["k"] == 2
    assert cells[CELL_B]["pi_low"] is None  # k = 2: no prediction interval
    assert cells[CELL_B]["studies"][0]["verdict"] is None  # cbam never ran CELL_B


def test_options_reach_the_result(dirs):
    result = run_spe("meta", *dirs, "--format", "json", "--method-re", "dl", "--ci", "normal",
                     "--correction", "bh", "--margin", "0.3", "--significance", "0.1")
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["method_re"], data["ci"], data["correction"], data["margin"],
            data["significance"]) == ("dl", "normal", "bh", 0.3, 0.1)


def test_table_markdown_and_csv_show_the_same_numbers(dirs, as_json):
    cell = next(c for c in as_json["cells"] if (c["pool"], c["alpha"], c["beta"]) == CELL_A)
    table = run_spe("meta", *dirs)
    markdown = run_spe("meta", *dirs, "--format", "markdown")
    for result in (table, markdown):
        assert result.code == 0, result.stderr
        assert f"{cell['delta']:+.2f}" in result.stdout
        assert as_json["claim"]["statement"][:40] in " ".join(result.stdout.split())
        assert "attention=eca" in result.stdout
    assert "| mix alpha=0.5 beta=0.5 | 3 |" in markdown.stdout
    rows = list(csv.DictReader(io.StringIO(run_spe("meta", *dirs, "--format", "csv").stdout)))
    pooled = [r for r in rows if r["setting"] == "pooled"]
    assert len(pooled) == len(as_json["cells"])
    assert len(rows) == len(as_json["cells"]) * (1 + len(as_json["settings"]))
    row = next(r for r in pooled if (r["alpha"], r["beta"]) == ("0.5", "0.5"))
    assert float(row["delta"]) == pytest.approx(cell["delta"])
    assert row["verdict"] == cell["verdict"]


def test_group_by_splits_one_directory(tmp_path, as_json):
    for attention, cells in SWEEPS.items():
        write_sweep(tmp_path, cells, attention=attention)  # all in one directory
    result = run_spe("meta", tmp_path, "--group-by", "attention", "--format", "json")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["cells"] == as_json["cells"]


def test_bad_input_exits_2_with_one_line(sweeps, dirs, tmp_path):
    (tmp_path / "empty" / "runs").mkdir(parents=True)
    assert_usage_error(run_spe("meta", dirs[0], tmp_path / "empty"), "no run records")
    assert_usage_error(run_spe("meta", dirs[0]), "one setting", "--group-by")
    assert_usage_error(run_spe("meta", *dirs, "--method-re", "reml"), "reml", "pm, dl")
    assert_usage_error(run_spe("meta", *dirs, "--ci", "t"), "hksj-floor, hksj, normal")
    assert_usage_error(run_spe("meta", *dirs, "--correction", "dunnett"), "holm, bh, by, none")
    assert_usage_error(run_spe("meta", *dirs, "--format", "html"), "format")
    assert_usage_error(run_spe("meta", *dirs, "--group-by", "colour"), "colour")
    write_sweep(tmp_path / "a", {AVG: [90, 91], CELL_A: [90, 91]}, attention="se")
    write_sweep(tmp_path / "b", {AVG: [90, 91], CELL_B: [90, 91]}, attention="eca")
    assert_usage_error(run_spe("meta", tmp_path / "a", tmp_path / "b"), "share no cell")


def test_unreadable_record_files_are_counted_and_named(tmp_path):
    for attention, cells in SWEEPS.items():
        write_sweep(tmp_path / attention, cells, attention=attention)
    broken = tmp_path / "se" / "runs" / "broken.json"
    broken.write_text("{", encoding="utf-8")
    result = run_spe("meta", *(tmp_path / name for name in SWEEPS), "--format", "json")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["unreadable"] == 1
    assert str(broken) in result.stderr


def test_a_run_copied_into_two_directories_counts_once(dirs, as_json, tmp_path):
    """A shared baseline copied beside its cells (same run id) is one run, not two."""
    copy = tmp_path / "se-again"
    (copy / "runs").mkdir(parents=True)
    for record in (dirs[2] / "runs").glob("*.json"):
        (copy / "runs" / record.name).write_bytes(record.read_bytes())
    result = run_spe("meta", *dirs, copy, "--format", "json")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["settings"] == as_json["settings"]


def test_one_avg_baseline_serves_learned_runs_of_each_pool_reg_in_stats_not_meta(tmp_path):
    """pool_reg changes nothing in an avg run: its runs join every pool_reg group of spe stats,
    and so the pool_reg settings are not independent studies that spe meta could pool."""
    write_sweep(tmp_path / "reg", {AVG: [90.0, 90.2, 89.9]})
    for reg, accs in ((0.1, [88.0, 88.4, 88.1]), (0.0, [90.1, 90.3, 90.0])):
        write_sweep(tmp_path / "reg", {("learned", None, None): accs}, pool_reg=reg)
    stats = run_spe("stats", tmp_path / "reg", "--group-by", "pool_reg", "--format", "json")
    assert stats.code == 0, stats.stderr
    groups = json.loads(stats.stdout)  # one analysis per pool_reg
    assert [(g["baseline"]["n"], round(g["cells"][-1]["delta"], 3)) for g in groups] == [(3, 0.1), (3, -1.867)]
    assert_usage_error(run_spe("meta", tmp_path / "reg"), "share avg runs")


def test_a_diverged_run_counts_in_the_pooled_verdict(tmp_path):
    """Issue 21: a cell that diverged in some settings is reported with its divergences and
    pooled at most inconclusive; --diverged exclude pools the survivors as before."""
    cells = {AVG: [90.0, 90.2, 89.9, 90.1], CELL_A: [90.05, 90.15, 90.0, 90.1]}  # equivalent
    dirs = []
    for attention, shift in (("se", 0.0), ("eca", 0.05), ("cbam", -0.05)):
        dirs.append(tmp_path / attention)
        write_sweep(dirs[-1], {c: [v + shift for v in accs] for c, accs in cells.items()},
                    statuses={(CELL_A, 3): "diverged"} if attention == "se" else None, attention=attention)
    counted = json.loads(run_spe("meta", *dirs, "--format", "json").stdout)
    cell = counted["cells"][0]
    assert (cell["n_diverged"], cell["verdict"]) == (1, "inconclusive")
    assert [s["n_diverged"] for s in cell["studies"]] == [0, 0, 1]  # cbam, eca, se
    excluded = json.loads(run_spe("meta", *dirs, "--format", "json", "--diverged", "exclude").stdout)
    assert excluded["cells"][0]["verdict"] == "equivalent"
    markdown = run_spe("meta", *dirs, "--format", "markdown").stdout
    assert "| diverged |" in markdown and "| 1/12 |" in markdown and "(1/4 diverged)" in markdown


def test_a_sequential_setting_enters_at_its_stopping_look(tmp_path, monkeypatch):
    """Issue 21: spe meta read --until-decided sweeps as fixed samples at full alpha.  Now each
    such setting enters every cell's pool with its spe stats replay: the estimate at the look
    where the cell stopped and its repeated CI (variance: the one whose normal 95% interval is
    that CI); --fixed-design analyses the runs as fixed sweeps, as in spe stats."""
    import spe_analysis.training as training
    from test_sweep_sequential import GRID, stand_in_trainer
    monkeypatch.setattr(training, "train_run", stand_in_trainer)
    dirs = [tmp_path / attention for attention in ("se", "eca")]
    for out in dirs:
        assert run_spe("sweep", *GRID, "--attention", out.name, "--out", out).code == 0
    result = run_spe("meta", *dirs, "--format", "json")
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    assert [s["design"] for s in data["settings"]] == ["sequential", "sequential"]
    for setting, out in zip(data["settings"], sorted(dirs)):
        alone = json.loads(run_spe("stats", out, "--format", "json").stdout)
        for row in alone["cells"]:
            cell = next(c for c in data["cells"] if (c["pool"], c["alpha"], c["beta"]) == (row["pool"], row["alpha"], row["beta"]))
            study = next(s for s in cell["studies"] if s["setting"] == setting["name"])
            assert (study["n"], study["delta"], study["ci_low"], study["ci_high"], study["verdict"],
                    study["stopped_at_look"]) == (row["n"], row["delta"], row["ci_low"], row["ci_high"],
                                                  row["verdict"], row["stopped_at_look"])
            half = (row["ci_high"] - row["ci_low"]) / 2
            assert study["variance"] == pytest.approx((half / 1.959963984540054) ** 2)
    worst = next(c for c in data["cells"] if (c["alpha"], c["beta"]) == (1.0, 1.0))
    assert [s["stopped_at_look"] for s in worst["studies"]] == [2, 2] and worst["delta"] < -5
    fixed = json.loads(run_spe("meta", *dirs, "--fixed-design", "--format", "json").stdout)
    assert [s["design"] for s in fixed["settings"]] == ["fixed", "fixed"]
    assert all(s["stopped_at_look"] is None for c in fixed["cells"] for s in c["studies"])
    assert_usage_error(run_spe("meta", *dirs, "--margin", "1"), "fixed-design")
