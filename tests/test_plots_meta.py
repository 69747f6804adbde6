"""Figures across settings (forest, verdicts): spe plot, spe report and spe figures."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from matplotlib.patches import Polygon
from matplotlib.text import Text

from conftest import assert_usage_error, run_spe
from spe_analysis import plots
from spe_analysis.plots import forest, load_meta, verdicts
from spe_analysis.plots.style import VERDICT_COLORS, paper_style
from synthetic_runs import grid_cells, write_sweep

AVG = ("avg", None, None)
CELLS = grid_cells([0.0, 1.0], [0.0, 1.0])  # three mix cells, (0, 0) left out


def write_setting(directory: Path, attention: str, shift: float, missing=()) -> Path:
    cells = {AVG: [90.0, 90.3, 89.9]}
    for i, cell in enumerate(CELLS):
        if cell not in missing:
            cells[cell] = [90.0 + shift * (i + 1) + d for d in (0.1, -0.1, 0.2)]
    cells[("max", None, None)] = [89.0, 89.2, 89.1]
    write_sweep(directory, cells, attention=attention)
    return directory


@pytest.fixture(scope="module")
def dirs(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("settings")
    return [write_setting(root / "se", "se", 0.3), write_setting(root / "eca", "eca", -0.2),
            write_setting(root / "cbam", "cbam", 0.1, missing=[CELLS[0]])]


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_plot_draws_both_kinds_the_same_bytes_twice(dirs, tmp_path):
    for out in ("a", "b"):
        result = run_spe("plot", *dirs, "--out", tmp_path / out, "--format", "png,pdf")
        assert result.code == 0, result.stderr
    files = _files(tmp_path / "a")
    assert set(files) == {f"{k}.{f}" for k in ("forest", "verdicts") for f in ("png", "pdf")}
    assert files == _files(tmp_path / "b")
    assert all(files.values())


def test_forest_has_a_panel_per_mix_cell_with_the_pooled_diamond(dirs):
    meta = load_meta(dirs)
    with paper_style():
        fig = forest.plot(meta)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    # No empty panel (the grid's alpha = beta = 0 point has no cell), no row labels without a
    # panel: every visible panel is a cell, and the first of each row names the settings.
    assert [ax.get_title(loc="left").split("   ")[0] for ax in panels] == [
        f"α={a:g}, β={b:g}" for _, a, b in CELLS]
    for ax in panels:
        first_in_row = ax.get_subplotspec().colspan.start == 0
        assert ax.yaxis.get_tick_params()["labelleft"] == first_in_row
    assert [t.get_text() for t in panels[0].get_yticklabels()][-1] == "pooled"
    for ax, cell in zip(panels, meta.mix_cells):
        diamonds = [p for p in ax.patches if isinstance(p, Polygon)]
        assert len(diamonds) == 1
        xs = diamonds[0].get_xy()[:, 0]
        assert (xs.min(), xs.max()) == pytest.approx((cell["ci_low"], cell["ci_high"]))
        assert diamonds[0].get_facecolor()[:3] == pytest.approx(
            tuple(int(VERDICT_COLORS[cell["verdict"]][i:i + 2], 16) / 255 for i in (1, 3, 5)))


def _legend(fig) -> list[str]:
    return [t.get_text() for t in fig.legends[0].get_texts()]


def test_forest_cuts_an_outlying_interval_with_an_arrow_instead_of_widening_every_panel(dirs):
    """The cell that one setting lacks is pooled over two (t on 1 df): its CI spans about
    +-3 points where every other interval spans 1-2; the shared axis stays on the others."""
    meta = load_meta(dirs)
    outlier = next(c for c in meta.mix_cells if sum(s["delta"] is not None for s in c["studies"]) == 2)
    with paper_style():
        fig = forest.plot(meta)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    low, high = panels[0].get_xlim()
    assert low > outlier["ci_low"] and high < outlier["ci_high"]
    ax = panels[meta.mix_cells.index(outlier)]
    arrows = [line for line in ax.lines if line.get_marker() in ("<", ">")]
    assert {(line.get_marker(), line.get_xdata()[0]) for line in arrows} >= {("<", low), (">", high)}
    assert "runs past the axis" in _legend(fig)


def test_forest_legend_lists_only_what_is_drawn(dirs):
    with paper_style():
        fig = forest.plot(load_meta(dirs[:2]))  # two settings: no prediction interval anywhere
    legend = _legend(fig)
    assert "95% prediction" not in legend and "pooled (95% CI)" in legend
    assert "worse" not in legend and "insufficient" not in legend


def test_cell_option_draws_one_panel(dirs, tmp_path):
    result = run_spe("plot", *dirs, "--kind", "forest", "--cell", "1,1", "--out", tmp_path)
    assert result.code == 0, result.stderr
    assert (tmp_path / "forest.png").is_file()
    with paper_style():
        fig = forest.plot(load_meta(dirs, cell=(1, 1)))
    assert [ax.get_title(loc="left") for ax in fig.axes if ax.get_title(loc="left")][0].startswith(
        "α=1, β=1")
    assert_usage_error(run_spe("plot", *dirs, "--cell", "2,2", "--out", tmp_path), "no cell")
    assert_usage_error(run_spe("plot", *dirs, "--cell", "1", "--out", tmp_path), "ALPHA,BETA")


def test_verdicts_marks_every_setting_and_the_pooled_row(dirs):
    meta = load_meta(dirs)
    with paper_style():
        fig = verdicts.plot(meta)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["pooled", "se", "eca", "cbam"]  # pooled at the bottom
    marks = [t.get_text() for t in ax.texts if isinstance(t, Text)]
    expected = sum(1 for c in meta.result["cells"] for e in [c, *c["studies"]]
                   if e["verdict"] not in (None, "insufficient"))
    assert len(marks) == expected
    pooled = meta.result["cells"][0]
    assert verdicts.MARKS[pooled["verdict"]] in marks[0]


@pytest.mark.parametrize("kind", ["forest", "verdicts"])
@pytest.mark.parametrize("width", ["single", "double"])
def test_text_is_legible_and_nothing_overlaps(dirs, kind, width, monkeypatch):
    """The checks of test_plots, on the kinds across settings."""
    import test_plots

    monkeypatch.setattr(test_plots, "KINDS", plots.META_KINDS)
    test_plots.test_text_is_legible_and_nothing_overlaps(load_meta(dirs), kind, width)


def test_one_setting_is_refused_with_exit_2(dirs, tmp_path):
    for kind in ("forest", "verdicts"):
        assert_usage_error(run_spe("plot", dirs[0], "--kind", kind, "--out", tmp_path),
                           "several settings")
    assert_usage_error(run_spe("plot", dirs[0], "--group-by", "attention", "--out", tmp_path),
                       "one setting")
    assert_usage_error(run_spe("plot", *dirs, "--kind", "heatmap", "--out", tmp_path), "one sweep")


def test_report_across_settings_has_the_meta_table_and_both_figures(dirs, tmp_path):
    out = tmp_path / "meta.md"
    result = run_spe("report", *dirs, "--out", out)
    assert result.code == 0, result.stderr
    text = out.read_text(encoding="utf-8")
    expected = json.loads(run_spe("meta", *dirs, "--format", "json").stdout)
    assert expected["claim"]["statement"] in text
    assert "| cell | k | delta |" in text
    for kind in ("forest", "verdicts"):
        assert f"![{kind}](meta-{kind}.png)" in text
        assert (tmp_path / f"meta-{kind}.png").is_file()


def test_figures_draws_meta_figures_beside_each_sweep(dirs, tmp_path, monkeypatch):
    monkeypatch.setattr(plots, "KINDS", {"heatmap": plots.heatmap})  # the others: test_figures
    data = tmp_path / "data"
    data.mkdir()
    for d in dirs[:2]:
        (data / d.name).symlink_to(d)
    result = run_spe("figures", "--data", data, "--out", tmp_path / "figs")
    assert result.code == 0, result.stderr
    names = set(p.name for p in (tmp_path / "figs").iterdir() if p.suffix in (".pdf", ".png"))
    assert {f"meta-{k}.{f}" for k in ("forest", "verdicts") for f in ("pdf", "png")} <= names
    assert names == {f"{name}-{k}.{f}" for name in ("se", "eca", "meta")
                     for k in ("heatmap", "forest", "verdicts") for f in ("pdf", "png")
                     if (name == "meta") != (k == "heatmap")}
    (data / "eca").unlink()
    result = run_spe("figures", "--data", data, "--out", tmp_path / "one")
    assert result.code == 0, result.stderr
    assert "skipped meta forest: these runs form one setting" in result.stdout
    assert not any(p.name.startswith("meta-") for p in (tmp_path / "one").iterdir())
