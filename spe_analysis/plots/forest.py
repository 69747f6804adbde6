"""Forest plots: per mix cell, every setting's delta with its 95% CI and the pooled estimate.

One panel per mix cell in grid order, as many to a row as the grid has betas (or one panel
for ``--cell``).
Each setting is a row (its `spe stats` delta and interval, coloured by its own verdict);
the bottom row is the random-effects estimate as a diamond spanning its 95% CI, coloured
by the pooled verdict, over the 95% prediction interval.  The grey band is the
equivalence margin.
"""
from __future__ import annotations

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Polygon

from .data import finite, short_label
from ..stats.across_settings import pooled_diverged, setting_labels
from .settings import Meta
from .style import BASELINE_COLOR, VERDICT_COLORS, new_figure

WIDTH = "double"
CAPTION = ("Per mix cell, each setting's difference to its avg baseline with the 95% CI of "
           "spe stats (colour: that setting's verdict), and the random-effects estimate across "
           "settings as a diamond over its 95% CI (colour: pooled verdict), with the 95% "
           "prediction interval (thin line). An arrow marks an interval cut at the panel edge. "
           "Grey band: the equivalence margin.")
ROW = 0.12  # inches per row of a panel
MARGIN_ALPHA = 0.15
OUTLIER = 4.0  # an interval this many times the median half-width is cut at the panel edge


def unsupported(meta: Meta) -> str | None:
    return None if meta.mix_cells else "no mix cell in these settings"


def _limits(meta: Meta, cells: list[dict]) -> tuple[float, float]:
    """x range over the margin, every estimate and every interval of ordinary width.  An
    interval more than OUTLIER times the median half-width (a cell pooled over two settings
    has t on 1 df: +-15 points where the others span 2) would squash every panel; it is cut
    at the edge with an arrow instead, as the prediction intervals always are."""
    margin = meta.result["margin"]
    values = [-margin, margin, 0.0]
    intervals = []
    for cell in cells:
        values.append(finite(cell["delta"]))
        intervals.append((finite(cell["ci_low"]), finite(cell["ci_high"])))
        for s in cell["studies"]:
            values.append(finite(s["delta"]))
            intervals.append((finite(s["ci_low"]), finite(s["ci_high"])))
    intervals = np.array([iv for iv in intervals if np.isfinite(iv).all()]).reshape(-1, 2)
    if len(intervals):
        half = (intervals[:, 1] - intervals[:, 0]) / 2
        ordinary = intervals[half <= OUTLIER * np.median(half)]
        values += list(ordinary.ravel())
    values = np.array(values, float)
    low, high = np.nanmin(values), np.nanmax(values)
    pad = 0.06 * (high - low)
    return low - pad, high + pad


def _beyond(ax, low: float, high: float, y: float, xlim: tuple[float, float], colour) -> bool:
    """Arrows at the panel edges where [low, high] runs past them; whether it does."""
    cut = False
    for end, edge, marker in ((low, xlim[0], "<"), (high, xlim[1], ">")):
        if (end < edge) if marker == "<" else (end > edge):
            ax.plot(edge, y, marker=marker, markersize=2.6, color=colour, markeredgewidth=0,
                    clip_on=False, zorder=4)
            cut = True
    return cut


def _panel(ax, cell: dict, n: int, margin: float, xlim: tuple[float, float]) -> set[str]:
    """Draw one cell's rows; return what was drawn, for the legend ('ci', 'pooled', 'pi', 'cut',
    and each verdict)."""
    drawn = set()
    ax.axvspan(-margin, margin, color=BASELINE_COLOR, alpha=MARGIN_ALPHA, linewidth=0, zorder=0)
    ax.axvline(0.0, color=BASELINE_COLOR, linewidth=0.5, zorder=1)
    ax.axhline(0.5, color=BASELINE_COLOR, linewidth=0.3, zorder=1)
    for i, study in enumerate(cell["studies"]):
        y = n - i
        low, high, delta = (finite(study[k]) for k in ("ci_low", "ci_high", "delta"))
        if study["verdict"] is None or not np.isfinite(delta):
            continue  # the setting has no estimate of this cell
        colour = VERDICT_COLORS[study["verdict"]]
        drawn.add(study["verdict"])
        if np.isfinite(low):
            ax.plot([low, high], [y, y], color=colour, linewidth=0.9, solid_capstyle="butt",
                    zorder=2)
            drawn.add("ci")
            if _beyond(ax, low, high, y, xlim, colour):
                drawn.add("cut")
        ax.plot(delta, y, marker="s", markersize=2.4, color=colour, markeredgewidth=0, zorder=3)
    if cell["delta"] is None:
        return drawn
    if cell["pi_low"] is not None:
        ax.plot([cell["pi_low"], cell["pi_high"]], [0, 0], color=BASELINE_COLOR, linewidth=0.5,
                zorder=2)
        drawn.add("pi")
        if _beyond(ax, cell["pi_low"], cell["pi_high"], 0, xlim, BASELINE_COLOR):
            drawn.add("cut")
    mu, low, high = cell["delta"], cell["ci_low"], cell["ci_high"]
    ax.add_patch(Polygon([(low, 0), (mu, 0.3), (high, 0), (mu, -0.3)], closed=True,
                         facecolor=VERDICT_COLORS[cell["verdict"]], edgecolor="black",
                         linewidth=0.4, zorder=3))
    drawn |= {"pooled", cell["verdict"]}
    if _beyond(ax, low, high, 0, xlim, "black"):
        drawn.add("cut")
    return drawn


def grid_layout(cells: list[dict]) -> dict[tuple[int, int], dict]:
    """Mix cells by (row, column) of the alpha x beta grid; a single cell alone at (0, 0)."""
    if len(cells) == 1:
        return {(0, 0): cells[0]}
    alphas = sorted({c["alpha"] for c in cells})
    betas = sorted({c["beta"] for c in cells})
    return {(alphas.index(c["alpha"]), betas.index(c["beta"])): c for c in cells}


def plot(meta: Meta, width: str = WIDTH):
    result = meta.result
    cells = meta.mix_cells
    settings = result["settings"]
    n = len(settings)
    # The cells in grid order, as many to a row as the grid has betas: no empty panel where
    # the grid has no cell (alpha = beta = 0 is left out of every sweep by default).
    cols = min(len(cells), len({c["beta"] for c in cells}))
    rows = -(-len(cells) // cols)
    panel = ROW * (n + 1.5) + 0.25
    fig = new_figure(width, min(rows * panel + 0.55, 9.0))
    axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False)
    xlim = _limits(meta, cells)
    labels = [*setting_labels(settings, keys=False).values(), "pooled"]
    label_size = 6 if width == "double" else 5
    drawn: set[str] = set()
    for k, ax in enumerate(axes.flat):
        if k >= len(cells):  # the last row's free places
            ax.set_visible(False)
            continue
        cell = cells[k]
        i, j = divmod(k, cols)
        drawn |= _panel(ax, cell, n, result["margin"], xlim)
        i2 = "" if cell["i2"] is None else f"I² {100 * cell['i2']:.0f}%"
        i2 += f"  {pooled_diverged(cell)} diverged" if cell["n_diverged"] else ""
        ax.set_title(("   " if width == "double" else "\n").join([short_label(cell), i2]).strip(),
                     fontsize=6 if width == "double" else 5, loc="left", pad=2)
        ax.tick_params(axis="y", length=0, labelleft=j == 0, labelsize=label_size)
        ax.tick_params(axis="x", labelbottom=k + cols >= len(cells), labelsize=5)
        ax.spines["left"].set_visible(False)
    first = axes.flat[0]
    first.set_yticks(np.arange(n, -1, -1), labels)
    first.set_ylim(-0.7, n + 0.7)
    first.set_xlim(*xlim)
    fig.supxlabel("Δ vs avg (points)", fontsize=6)
    fig.supylabel(f"setting ({', '.join(result['group_by'])})", fontsize=6)

    handles = [Line2D([], [], marker="s", linestyle="none", markersize=2.4,
                      color=VERDICT_COLORS[v], label=v) for v in VERDICT_COLORS if v in drawn]
    optional = {
        "ci": Line2D([], [], color="black", linewidth=0.9, label="95% CI"),
        "pooled": Patch(facecolor="white", edgecolor="black", linewidth=0.4, label="pooled (95% CI)"),
        "pi": Line2D([], [], color=BASELINE_COLOR, linewidth=0.5, label="95% prediction"),
        "cut": Line2D([], [], marker=">", linestyle="none", markersize=2.6, color="black",
                      markeredgewidth=0, label="runs past the axis"),
    }
    handles += [handle for key, handle in optional.items() if key in drawn]
    handles.append(Patch(color=BASELINE_COLOR, alpha=MARGIN_ALPHA, linewidth=0,
                         label=f"±{result['margin']:g} margin"))
    fig.legend(handles=handles, loc="outside upper center",
               ncol=len(handles) if width == "double" else -(-len(handles) // 2),
               handletextpad=0.3, columnspacing=0.9, handlelength=1.2, fontsize=5)
    return fig
