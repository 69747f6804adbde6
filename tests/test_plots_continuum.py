"""The avg-to-max continuum figure and the squeeze statistics across spe stats, plot, report,
meta and export: every cell named by its label (lse:4, gem:3, dct...)."""
from __future__ import annotations

import json
import random

import pytest
from matplotlib.text import Text

from conftest import assert_usage_error, run_spe
from spe_analysis.plots import load_sweep
from synthetic_runs import write_sweep
from test_plots import test_text_is_legible_and_nothing_overlaps as legible, write_all_verdicts

LABELS = ("lse:0.5", "lse:2", "lse:8", "gem:3", "meanstd:1", "dct", "avgmax")


@pytest.fixture(scope="module")
def squeeze_dir(tmp_path_factory):
    rng = random.Random(0)
    cells = {("avg", None, None): [90.0, 90.2, 89.8, 90.1, 89.9],
             ("max", None, None): [88.5, 88.7, 88.2, 88.9, 88.4]}
    for i, label in enumerate(LABELS):
        cells[(label, None, None)] = [89.5 + 0.1 * i + rng.gauss(0, 0.2) for _ in range(5)]
    directory = tmp_path_factory.mktemp("squeeze")
    write_sweep(directory, cells, epochs=2)
    return directory


def test_stats_names_each_statistic_by_its_label_in_temperature_order(squeeze_dir):
    result = run_spe("stats", squeeze_dir, "--format", "json")
    assert result.code == 0, result.stderr
    pools = [c["pool"] for c in json.loads(result.stdout)["cells"]]
    assert pools == ["max", "avgmax", "dct", "gem:3", "lse:0.5", "lse:2", "lse:8", "meanstd:1"]
    table = run_spe("stats", squeeze_dir)
    assert all(label in table.stdout for label in LABELS)


def test_export_keeps_pool_and_parameter_apart(squeeze_dir):
    result = run_spe("export", squeeze_dir, "--format", "jsonl")
    assert result.code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert {(r["pool"], r.get("pool_param")) for r in rows} >= {("lse", 0.5), ("gem", 3.0), ("dct", None)}


def test_continuum_puts_lse_between_avg_and_max_and_marks_the_others(squeeze_dir, tmp_path):
    result = run_spe("plot", squeeze_dir, "--kind", "continuum", "--out", tmp_path, "--format", "pdf,png")
    assert result.code == 0, result.stderr
    pdf = (tmp_path / "continuum.pdf").read_bytes()
    assert b"/Type3" not in pdf and b"/FontFile2" in pdf
    from spe_analysis.plots import continuum
    from spe_analysis.plots.style import paper_style
    with paper_style():
        fig = continuum.plot(load_sweep(squeeze_dir))
    texts = {t.get_text() for t in fig.findobj(Text)}
    assert {"avg\n(r → 0)", "0.5", "2", "8", "max\n(r → ∞)"} <= texts
    assert {"gem:3", "meanstd:1", "dct", "avgmax"} <= texts
    assert fig.axes[0].get_xscale() == "log"


@pytest.mark.parametrize("width", ["single", "double"])
def test_continuum_is_legible(squeeze_dir, width):
    legible(load_sweep(squeeze_dir), "continuum", width)


def test_strip_and_report_show_the_statistics_too(squeeze_dir, tmp_path):
    assert run_spe("plot", squeeze_dir, "--kind", "strip", "--out", tmp_path).code == 0
    result = run_spe("report", squeeze_dir, "--out", tmp_path / "report.md")
    assert result.code == 0, result.stderr
    text = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "lse:2" in text and "continuum" in text


def test_continuum_needs_lse_cells(tmp_path):
    directory = write_all_verdicts(tmp_path / "sweep")
    assert_usage_error(run_spe("plot", directory, "--kind", "continuum"), "no lse cells")
    result = run_spe("plot", directory, "--out", tmp_path / "figs")
    assert "skipped continuum: no lse cells" in result.stdout


def test_meta_pools_each_statistic_across_settings_by_its_label(tmp_path):
    rng = random.Random(1)
    for attention in ("se", "eca"):
        write_sweep(tmp_path / attention, {
            ("avg", None, None): [90 + rng.gauss(0, 0.2) for _ in range(4)],
            ("lse:2", None, None): [89.9 + rng.gauss(0, 0.2) for _ in range(4)],
            ("lse:8", None, None): [89.0 + rng.gauss(0, 0.2) for _ in range(4)],
            ("dct", None, None): [90.1 + rng.gauss(0, 0.2) for _ in range(4)]}, attention=attention, epochs=1)
    result = run_spe("meta", tmp_path / "se", tmp_path / "eca", "--format", "json")
    assert result.code == 0, result.stderr
    cells = {c["pool"]: c for c in json.loads(result.stdout)["cells"]}
    assert set(cells) == {"lse:2", "lse:8", "dct"} and all(c["k"] == 2 for c in cells.values())
