"""Every run as a dot, per cell in grid order, against the avg baseline.

The y axis is the difference to the baseline mean, so a cell's mean is its delta and its
error bar is exactly the 95% interval `spe stats` reports; the baseline is the band of
its own runs' spread (mean ± sd) around zero, and the dashed lines are the equivalence margin.
"""
from __future__ import annotations

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..stats.cells import BASELINE
from ..stats.verdicts import diverged_text
from .data import Sweep, cell_key, finite, short_label
from .style import BASELINE_COLOR, VERDICT_COLORS, fit_xticks, new_figure

WIDTH = "double"
CAPTION = ("Every run as a dot, per cell in grid order, as its difference to the avg mean; "
           "the large marker is the cell's delta with its 95% CI; colour gives the verdict. "
           "Grey band: avg ± sd; dashed: the equivalence margin.")
SPREAD = 0.32  # width, in cells, over which a cell's runs are spread
TICK_SIZE = 5


def unsupported(sweep: Sweep) -> str | None:
    return None if sweep.stats["cells"] else "no cells besides avg"


def _offsets(n: int) -> np.ndarray:
    """Fixed horizontal offsets for n dots: deterministic, so redraws give the same bytes."""
    return np.linspace(-SPREAD / 2, SPREAD / 2, n) if n > 1 else np.zeros(n)


def mark_delta(ax, x: float, cell: dict) -> None:
    """A cell's delta and its 95% CI at ``x``, coloured by its verdict."""
    colour = VERDICT_COLORS[cell["verdict"]]
    delta, low, high = finite(cell["delta"]), finite(cell["ci_low"]), finite(cell["ci_high"])
    if np.isfinite(low) and np.isfinite(high):
        ax.errorbar(x, delta, yerr=[[delta - low], [high - delta]], fmt="none", ecolor=colour,
                    elinewidth=1.0, capsize=1.5, capthick=0.8, zorder=3)
    if np.isfinite(delta):
        ax.plot(x, delta, marker="o", markersize=3.2, color=colour, markeredgecolor="black",
                markeredgewidth=0.4, zorder=4)


def plot(sweep: Sweep, width: str = WIDTH):
    base = sweep.baseline
    centre = base["mean"]
    cells = sweep.mix_cells + sweep.other_cells
    fig = new_figure(width, 2.4 if width == "double" else 2.2)
    ax = fig.add_subplot()

    sd = finite(base["sd"])
    if np.isfinite(sd):
        ax.axhspan(-sd, sd, color=BASELINE_COLOR, alpha=0.15, linewidth=0, zorder=0)
    ax.axhline(0.0, color=BASELINE_COLOR, linewidth=0.6, zorder=1)
    margin = sweep.stats["margin"]
    for y in (-margin, margin):
        ax.axhline(y, color=BASELINE_COLOR, linewidth=0.5, linestyle=(0, (3, 2)), zorder=1)

    base_runs = np.asarray(sweep.values(BASELINE)) - centre
    ax.scatter(_offsets(len(base_runs)), base_runs, s=5, color=BASELINE_COLOR, linewidth=0,
               alpha=0.8, zorder=2)
    for x, cell in enumerate(cells, start=1):
        colour = VERDICT_COLORS[cell["verdict"]]
        runs = np.asarray(sweep.values(cell_key(cell))) - centre
        ax.scatter(x + _offsets(len(runs)), runs, s=5, color=colour, linewidth=0, alpha=0.55,
                   zorder=2)
        mark_delta(ax, x, cell)

    # Diverged runs have no accuracy to draw, so the tick says how many there were.
    labels = [label + (f", {diverged_text(row)} diverged" if row.get("n_diverged") else "")
              for label, row in zip(["avg"] + [short_label(c) for c in cells], [base, *cells])]
    fit_xticks(ax, labels, 0.88 * fig.get_figwidth(), TICK_SIZE,
               stacked=[label.replace(", ", "\n") for label in labels])
    ax.tick_params(axis="x", length=1.5)
    ax.set_xlim(-0.6, len(cells) + 0.6)
    ax.set_ylabel("Δ vs avg mean (points)")
    ax.set_xlabel("cell (α: max weight, β: min weight)" if sweep.mix_cells else "cell")
    ax.set_title(("; " if width == "double" else "\n").join(sweep.baseline_caption), loc="left",
                 fontsize=6)

    present = [v for v in VERDICT_COLORS if any(c["verdict"] == v for c in cells)]
    handles = [Line2D([], [], marker="o", linestyle="none", markersize=3.2,
                      markerfacecolor=VERDICT_COLORS[v], markeredgecolor="black",
                      markeredgewidth=0.4, label=v) for v in present]
    handles += [Line2D([], [], color="black", linewidth=1.0, marker="_", markersize=3,
                       label="95% CI of Δ"),
                Patch(color=BASELINE_COLOR, alpha=0.15, linewidth=0, label="avg ± sd"),
                Line2D([], [], color=BASELINE_COLOR, linewidth=0.5, linestyle=(0, (3, 2)),
                       label=f"±{margin:g} margin")]
    rows = 1 if width == "double" else 2
    fig.legend(handles=handles, loc="outside upper center", ncol=-(-len(handles) // rows),
               handletextpad=0.3, columnspacing=1.0, handlelength=1.4)
    return fig
