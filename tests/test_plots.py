"""`spe plot`: every figure kind drawn from synthetic records, checked as files and as figures."""
from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from matplotlib.collections import PathCollection
from matplotlib.colors import TwoSlopeNorm
from matplotlib.text import Text
from PIL import Image

from conftest import assert_usage_error, run_spe
from spe_analysis.plots import KINDS, heatmap, load_sweep
from spe_analysis.plots.style import VERDICT_COLORS, WIDTHS, paper_style
from spe_analysis.records import load_records, write_record
from synthetic_runs import grid_cells, write_sweep

# One cell per verdict (and a second better/equivalent), with Holm over 11 cells, margin 0.5.
ALL_VERDICTS = {
    ("avg", None, None): [90.0, 90.2, 89.8, 90.1, 89.9],
    ("mix", 0.0, 0.5): [90.05, 90.1, 89.95, 90.0, 90.0],  # equivalent
    ("mix", 0.0, 1.0): [90.3],                            # insufficient
    ("mix", 0.5, 0.0): [87.0, 87.2, 86.8, 87.1, 86.9],    # worse ***
    ("mix", 0.5, 0.5): [88.0, 92.0, 90.5, 89.0, 91.5],    # inconclusive
    ("mix", 0.5, 1.0): [90.6, 91.0, 90.5, 90.9, 90.7],    # better **
    ("mix", 1.0, 0.0): [92.0, 92.2, 91.8, 92.1, 91.9],    # better ***
    ("mix", 1.0, 0.5): [89.9, 90.15, 89.9, 90.1, 90.0],   # equivalent
    ("mix", 1.0, 1.0): [89.0, 89.6, 89.2, 90.4, 89.9],    # inconclusive
    ("max", None, None): [89.5, 89.7, 89.6, 89.4, 89.8],
    ("min", None, None): [85.5, 86.0, 85.0, 86.2, 85.7],
    ("learned", None, None): [90.2, 90.4, 90.0, 90.3, 90.1],
}
EPOCHS = 4
SVG_LABELS = {"heatmap": "β (min weight)", "strip": "Δ vs avg mean (points)", "curves": "train loss",
              "lambda": "λ (weight on max)", "dynamics": "|p| at the end of the epoch"}  # one axis label of each kind
DRAWN_KINDS = [k for k in KINDS if k != "continuum"]  # no lse cells here: test_plots_continuum.py
BLOCKS = 9  # synthetic_record's default number of blocks with a lam


def write_all_verdicts(directory: Path, learned: bool = True) -> Path:
    """A sweep whose cells reach all five verdicts; shared by the plot, report and figures tests."""
    cells = {k: v for k, v in ALL_VERDICTS.items() if learned or k[0] != "learned"}
    write_sweep(directory, cells, epochs=EPOCHS)
    return directory


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory) -> Path:
    return write_all_verdicts(tmp_path_factory.mktemp("sweep"))


@pytest.fixture(scope="module")
def sweep(sweep_dir):
    return load_sweep(sweep_dir)


@pytest.fixture(scope="module")
def drawn(sweep_dir, tmp_path_factory) -> Path:
    """Every kind in every format, drawn through the command line."""
    out = tmp_path_factory.mktemp("figs")
    result = run_spe("plot", sweep_dir, "--kind", "all", "--out", out,
                     "--format", "pdf", "--format", "png", "--format", "svg")
    assert result.code == 0, result.stderr
    return out


def figure_of(kind: str, sweep, width: str | None = None):
    with paper_style():
        return KINDS[kind].plot(sweep, width or KINDS[kind].WIDTH)


def test_the_sweep_reaches_all_five_verdicts(sweep):
    assert {c["verdict"] for c in sweep.stats["cells"]} == set(VERDICT_COLORS)


@pytest.mark.parametrize("kind", DRAWN_KINDS)
def test_every_kind_is_a_valid_png_pdf_and_svg_of_sensible_size(drawn, kind):
    png, pdf, svg = (drawn / f"{kind}.{ext}" for ext in ("png", "pdf", "svg"))
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and 10_000 < len(data) < 2_000_000
    with Image.open(io.BytesIO(data)) as image:
        image.verify()
    with Image.open(io.BytesIO(data)) as image:
        assert image.width == round(WIDTHS[KINDS[kind].WIDTH] * 300)  # 300 dpi at column width
        assert 300 < image.height < 1900
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert 5_000 < len(data) < 1_000_000
    root = ET.fromstring(svg.read_bytes())
    assert root.tag.endswith("svg")
    # svg.fonttype 'none' keeps text as <text> elements (not glyph outlines), labels included
    texts = {"".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")}
    assert texts and SVG_LABELS.get(kind, min(texts, default="")) in texts, sorted(texts)
    assert 5_000 < svg.stat().st_size < 2_000_000


def test_no_pdf_embeds_a_type3_font(drawn):
    for pdf in sorted(drawn.glob("*.pdf")):
        data = pdf.read_bytes()
        assert b"/Type3" not in data, pdf.name
        assert b"/FontFile2" in data, pdf.name  # the TrueType (Type 42) font is embedded


def test_two_draws_give_identical_bytes(sweep_dir, drawn, tmp_path):
    again = run_spe("plot", sweep_dir, "--out", tmp_path, "--format", "pdf,png,svg")
    assert again.code == 0, again.stderr
    names = sorted(p.name for p in drawn.iterdir())
    assert names == sorted(p.name for p in tmp_path.iterdir()) and len(names) == 3 * len(DRAWN_KINDS)
    for name in names:
        assert (drawn / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_width_double_widens_the_figure(sweep_dir, tmp_path):
    result = run_spe("plot", sweep_dir, "--kind", "heatmap", "--width", "double", "--out", tmp_path)
    assert result.code == 0, result.stderr
    assert result.stdout.split() == [str(tmp_path / "heatmap.png")]
    with Image.open(tmp_path / "heatmap.png") as image:
        assert image.width == round(6.9 * 300)


def test_stars_follow_the_adjusted_p_value():
    assert [heatmap.stars(p) for p in (0.0005, 0.001, 0.005, 0.04, 0.05, 0.5, None)] == \
        ["***", "**", "**", "*", "", "", ""]


def test_heatmap_annotates_delta_stars_equivalence_and_hatches_insufficient(sweep):
    fig = figure_of("heatmap", sweep)
    ax = fig.axes[0]
    texts = {t.get_text() for t in ax.texts}
    assert {"+2.00\n***", "\u22123.00\n***", "+0.74\n**", "+0.02\n≈", "+0.01\n≈", "+0.20",
            "n=1"} <= texts
    hatched = [p for p in ax.patches if p.get_hatch()]
    assert [(p.get_x(), p.get_y()) for p in hatched] == [(2, 0)]  # beta = 1 (column 2), alpha = 0
    norm = ax.collections[0].norm
    assert isinstance(norm, TwoSlopeNorm) and norm.vcenter == 0 and norm.vmin == -norm.vmax
    assert ax.get_xlabel() == "β (min weight)" and ax.get_ylabel() == "α (max weight)"
    assert "avg baseline 90.00 ± 0.16 % (mean ± sd, n = 5)" in ax.get_title(loc="left")


def test_strip_shows_every_run_and_colours_cells_by_verdict(sweep):
    ax = figure_of("strip", sweep).axes[0]
    dots = sum(len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection))
    assert dots == sum(len(v) for v in ALL_VERDICTS.values())
    means = {round(line.get_xdata()[0]): line.get_markerfacecolor() for line in ax.lines
             if line.get_marker() == "o"}
    cells = sweep.mix_cells + sweep.other_cells
    assert len(means) == len(cells)
    for x, cell in enumerate(cells, start=1):
        assert means[x] == VERDICT_COLORS[cell["verdict"]]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[0] == "avg" and labels[-1] == "learned" and "α=1\nβ=0" in labels


def test_curves_show_baseline_best_worst_and_other_pools(sweep):
    fig = figure_of("curves", sweep)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["avg baseline (n=5)", "best: α=1, β=0 (n=5)", "worst: α=0.5, β=0 (n=5)",
                      "max (n=5)", "min (n=5)", "learned (n=5)"]  # one pair of brackets each
    assert [ax.get_ylabel() for ax in fig.axes] == ["test accuracy (%)", "train loss"]
    baseline = fig.axes[0].lines[0]
    assert list(baseline.get_xdata()) == list(range(1, EPOCHS + 1))
    assert baseline.get_ydata()[-1] == pytest.approx(90.0)  # mean of the baseline's final accs


def test_curves_bands_stay_within_what_the_metric_can_be(tmp_path):
    """Three seeds near 100%: the t-interval reaches past 100, the band stops there."""
    write_sweep(tmp_path, {("avg", None, None): [99.9, 95.0, 100.0], ("mix", 1.0, 0.0): [99.0, 94.0, 99.5]},
                epochs=EPOCHS)
    fig = figure_of("curves", load_sweep(tmp_path))
    accuracy, loss = fig.axes
    bands = [path.vertices[:, 1] for band in accuracy.collections for path in band.get_paths()]
    assert max(y.max() for y in bands) == pytest.approx(100.0)
    assert min(y.min() for band in loss.collections for y in [p.vertices[:, 1] for p in band.get_paths()]) >= 0


def test_dynamics_log_axis_has_plain_tick_labels(sweep):
    fig = figure_of("dynamics", sweep)
    fig.canvas.draw()
    labels = [t.get_text() for t in fig.axes[1].get_yticklabels() if t.get_text()]
    assert labels and not any("$" in label or "times" in label for label in labels), labels
    assert all(float(label.replace("\u2212", "-")) > 0 for label in labels)


def test_heatmap_marks_and_explains_the_alpha_beta_zero_corner_it_leaves_out(sweep):
    ax = figure_of("heatmap", sweep).axes[0]
    assert ("mix", 0.0, 0.0) not in ALL_VERDICTS  # the default sweep leaves it out
    corner = [t for t in ax.texts if t.get_text() == "—"]
    assert len(corner) == 1 and corner[0].get_position() == (0.5, 0.5)  # beta 0 column, alpha 0 row
    assert "α = β = 0 not run" in ax.get_title(loc="left")


def test_lambda_draws_every_seed_and_the_mean_per_block(sweep):
    axes = [ax for ax in figure_of("lambda", sweep).axes if ax.get_visible()]
    seeds = len(ALL_VERDICTS[("learned", None, None)])
    assert len(axes) == BLOCKS
    assert all(len(ax.lines) == seeds + 2 for ax in axes)  # seeds, mean, dashed initial value
    assert axes[0].lines[-1].get_ydata()[-1] == pytest.approx(0.3)  # mean, first block, last epoch
    assert axes[-1].lines[1].get_ydata()[-1] == pytest.approx(0.7)  # a seed, last block


@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("kind", DRAWN_KINDS)
def test_text_is_legible_and_nothing_overlaps(sweep, kind, width):
    """All text at >= 4 pt, nothing drawn outside the figure, no two tick labels overlapping."""
    fig = figure_of(kind, sweep, width)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for text in fig.findobj(Text):
        assert not text.get_text().strip() or text.get_fontsize() >= 4, text.get_text()
    drawn = fig.get_tightbbox(renderer)  # inches, of what is drawn
    assert drawn.x0 >= -0.01 and drawn.y0 >= -0.01, drawn
    assert drawn.x1 <= fig.get_figwidth() + 0.01 and drawn.y1 <= fig.get_figheight() + 0.01, drawn
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            boxes = [label.get_window_extent(renderer)
                     for tick, label in zip(axis.get_ticklocs(), axis.get_ticklabels())
                     if low <= tick <= high and label.get_text()]
            for i, a in enumerate(boxes):
                assert not any(a.overlaps(b) for b in boxes[i + 1:]), (kind, width)


@pytest.mark.parametrize("kind", ["heatmap", "strip"])
def test_a_large_grid_stays_legible(tmp_path, kind):
    """A 9 x 9 grid (80 cells): smaller, upright or thinned labels, still no overlap."""
    grid = [i / 8 for i in range(9)]
    cells = {c: [90 + c[1] - c[2], 90.2 + c[1] - c[2]] for c in grid_cells(grid, grid)}
    write_sweep(tmp_path, {("avg", None, None): [90.0, 90.3, 89.8], **cells})
    test_text_is_legible_and_nothing_overlaps(load_sweep(tmp_path), kind, "single")


@pytest.mark.filterwarnings("error")
def test_a_sweep_too_small_to_test_still_draws_every_kind(tmp_path):
    """One baseline run: every cell insufficient, no CI anywhere, and no warnings either."""
    write_sweep(tmp_path, {("avg", None, None): [90.0], ("mix", 1.0, 0.0): [91.0, 91.2],
                           ("mix", 0.5, 0.5): [90.0], ("learned", None, None): [90.0]})
    result = run_spe("plot", tmp_path, "--out", tmp_path / "figs")
    assert result.code == 0, result.stderr
    assert len(list((tmp_path / "figs").iterdir())) == len(DRAWN_KINDS)


def test_kind_all_skips_lambda_without_learned_runs_but_lambda_alone_fails(tmp_path):
    directory = write_all_verdicts(tmp_path / "sweep", learned=False)
    result = run_spe("plot", directory, "--out", tmp_path / "figs")
    assert result.code == 0, result.stderr
    assert "skipped lambda: no learned runs" in result.stdout
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == \
        ["curves.png", "heatmap.png", "strip.png"]
    assert_usage_error(run_spe("plot", directory, "--kind", "lambda"), "lambda", "no learned runs")


def test_runs_without_history_skip_curves(tmp_path):
    directory = write_all_verdicts(tmp_path / "sweep", learned=False)
    for record in load_records(directory):
        write_record(directory, {**record, "history": []})
    result = run_spe("plot", directory, "--out", tmp_path / "figs")
    assert result.code == 0, result.stderr
    assert "skipped curves: no run carries a per-epoch history" in result.stdout
    assert_usage_error(run_spe("plot", directory, "--kind", "curves"), "curves", "history")


def test_default_output_is_dir_figures(tmp_path):
    directory = write_all_verdicts(tmp_path / "sweep")
    assert run_spe("plot", directory, "--kind", "strip").code == 0
    assert (directory / "figures" / "strip.png").is_file()


def test_statistics_options_pass_through(sweep_dir, tmp_path):
    """A wide margin turns the inconclusive cells equivalent, in the figure as in spe stats."""
    wide = load_sweep(sweep_dir, margin=3.0, correction="none")
    stats = json.loads(run_spe("stats", sweep_dir, "--margin", "3", "--correction", "none",
                               "--format", "json").stdout)
    assert wide.stats == stats
    texts = {t.get_text() for t in figure_of("heatmap", wide).axes[0].texts}
    assert "+0.20\n≈" in texts


@pytest.mark.parametrize("cells, fragments", [
    ({}, ("no run records",)),
    ({("mix", 1.0, 0.0): [90.0, 90.1]}, ("no avg baseline",)),
])
def test_bad_sweep_directories_exit_2_with_one_line(tmp_path, cells, fragments):
    (tmp_path / "runs").mkdir()
    write_sweep(tmp_path, cells)
    for command in ("plot", "report"):
        assert_usage_error(run_spe(command, tmp_path), *fragments)


def test_a_sweep_without_mix_cells_draws_what_it_supports(tmp_path):
    write_sweep(tmp_path, {("avg", None, None): [90.0, 90.1], ("max", None, None): [89.0, 89.2]})
    drawn = run_spe("plot", tmp_path, "--out", tmp_path / "figs")
    assert drawn.code == 0 and (tmp_path / "figs" / "curves.png").is_file()
    assert not (tmp_path / "figs" / "heatmap.png").exists()
    assert_usage_error(run_spe("plot", tmp_path, "--kind", "heatmap"), "no mix cells")


def test_a_baseline_whose_runs_all_failed_exits_2(tmp_path):
    base = ("avg", None, None)
    write_sweep(tmp_path, {base: [90.0, 90.1], ("mix", 1.0, 0.0): [90.0, 90.1]},
                statuses={(base, 0): "failed", (base, 1): "diverged"})
    assert_usage_error(run_spe("plot", tmp_path), "no usable avg baseline")


@pytest.mark.parametrize("args, fragments", [
    (("--kind", "violin"), ("kind", "heatmap")),
    (("--format", "jpg"), ("format", "svg")),
    (("--width", "triple"), ("width", "single")),
    (("--test", "ztest"), ("test", "welch")),
])
def test_bad_options_exit_2_with_one_line(sweep_dir, tmp_path, args, fragments):
    assert_usage_error(run_spe("plot", sweep_dir, "--out", tmp_path, *args), *fragments)
    assert not any(tmp_path.iterdir())


def test_missing_directory_exits_2(tmp_path):
    assert_usage_error(run_spe("plot", tmp_path / "nope"), "not a directory")

