"""The avg-to-max continuum: delta vs avg along the log-sum-exp temperature, the other squeeze
statistics beside it.

``lse:r`` is avg as r -> 0 and max as r -> infinity, so the left panel puts the lse cells on a
log r axis between avg (delta 0 by definition, at the left end) and max (the ``max`` cell, or
mix alpha = 1, beta = 0, which is the same statistic, at the right end).  The right panel
marks every other statistic of the sweep (gem, meanstd, dct, avgmax, users' pools...).  Each
marker is a cell's delta with its 95% CI as spe stats reports them, coloured by its verdict;
the grey band is the equivalence margin.
"""
from __future__ import annotations

import math

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..pool_labels import split_label
from .data import Sweep, finite, short_label
from .strip import mark_delta
from .style import BASELINE_COLOR, VERDICT_COLORS, new_figure, number

WIDTH = "double"
CAPTION = ("Δ vs avg along the log-sum-exp temperature r (log axis) from avg (r → 0) to max "
           "(r → ∞), and the other squeeze statistics beside it: each cell's delta with its 95% "
           "CI, coloured by verdict. Grey band: the equivalence margin.")
END_STEP = 4.0  # the avg and max ends sit this factor beyond the smallest and largest r
MARGIN_ALPHA = 0.15
MAX_CELLS = (("max", None, None), ("mix", 1.0, 0.0))  # the r -> infinity end, in preference


def _lse_cells(sweep: Sweep) -> list[tuple[float, dict]]:
    found = [(split_label(c["pool"]), c) for c in sweep.stats["cells"]]
    return sorted((param, cell) for (name, param), cell in found if name == "lse" and param is not None)


def _max_cell(sweep: Sweep) -> dict | None:
    by_key = {(c["pool"], c.get("alpha"), c.get("beta")): c for c in sweep.stats["cells"]}
    return next((by_key[k] for k in MAX_CELLS if k in by_key), None)


def _others(sweep: Sweep, ends: list[dict]) -> list[dict]:
    """The cells besides the mix grid, the lse cells and the max end."""
    return [c for c in sweep.stats["cells"] if c["pool"] != "mix" and split_label(c["pool"])[0] != "lse"
            and not any(c is end for end in ends)]


def unsupported(sweep: Sweep) -> str | None:
    return None if _lse_cells(sweep) else "no lse cells (add e.g. --also lse:1,lse:4)"


def _margin(ax, margin: float) -> None:
    ax.axhspan(-margin, margin, color=BASELINE_COLOR, alpha=MARGIN_ALPHA, linewidth=0, zorder=0)
    ax.axhline(0.0, color=BASELINE_COLOR, linewidth=0.6, zorder=1)


def plot(sweep: Sweep, width: str = WIDTH):
    lse = _lse_cells(sweep)
    top = _max_cell(sweep)
    others = _others(sweep, [top] if top else [])
    fig = new_figure(width, 2.4)
    grid = fig.add_gridspec(1, 2, width_ratios=[3.2, max(len(others), 1) * 0.45 + 0.3])
    ax = fig.add_subplot(grid[0])
    side = fig.add_subplot(grid[1], sharey=ax)
    margin = sweep.stats["margin"]
    for axis in (ax, side):
        _margin(axis, margin)

    temperatures = [r for r, _ in lse]
    left, right = temperatures[0] / END_STEP, temperatures[-1] * END_STEP
    ax.set_xscale("log")
    deltas = [finite(c["delta"]) for _, c in lse]
    ax.plot(temperatures, deltas, color=BASELINE_COLOR, linewidth=0.8, zorder=2)
    dotted = dict(color=BASELINE_COLOR, linewidth=0.8, linestyle=(0, (1, 1.5)), zorder=2)
    ax.plot([left, temperatures[0]], [0.0, deltas[0]], **dotted)  # the limits, not measured
    if top:
        ax.plot([temperatures[-1], right], [deltas[-1], finite(top["delta"])], **dotted)
    ax.plot(left, 0.0, marker="D", markersize=3.2, color="white", markeredgecolor=BASELINE_COLOR,
            markeredgewidth=0.8, zorder=4)
    for r, cell in lse:
        mark_delta(ax, r, cell)
    ticks = [left, *temperatures] + ([right] if top else [])
    labels = (["avg\n(r → 0)"] + [number(r) for r in temperatures]
              + ([f"{short_label(top)}\n(r → ∞)"] if top else []))
    ax.set_xticks(ticks, labels)
    ax.minorticks_off()
    if top:
        mark_delta(ax, right, top)
    ax.set_xlim(left / math.sqrt(END_STEP), (right if top else temperatures[-1]) * math.sqrt(END_STEP))
    ax.set_xlabel("log-sum-exp temperature r" + (": (1/r) log mean exp(r x)" if width == "double" else ""))
    ax.set_ylabel("Δ vs avg (points)")
    ax.set_title(("; ".join if width == "double" else "\n".join)(sweep.baseline_caption), loc="left",
                 fontsize=6)

    for x, cell in enumerate(others):
        mark_delta(side, x, cell)
    upright = width != "double" or len(others) > 4
    side.set_xticks(range(len(others)), [short_label(c) for c in others], rotation=90 if upright else 0)
    side.set_xlim(-0.7, max(len(others), 1) - 0.3)
    side.tick_params(axis="y", labelleft=False)
    side.set_xlabel("other statistics")

    present = [v for v in VERDICT_COLORS if any(c["verdict"] == v for c in [*(c for _, c in lse), *others,
                                                                             *([top] if top else [])])]
    handles = [Line2D([], [], marker="o", linestyle="none", markersize=3.2, markerfacecolor=VERDICT_COLORS[v],
                      markeredgecolor="black", markeredgewidth=0.4, label=v) for v in present]
    handles += [Line2D([], [], marker="D", linestyle="none", markersize=3.2, markerfacecolor="white",
                       markeredgecolor=BASELINE_COLOR, label="avg (Δ = 0)"),
                Line2D([], [], color="black", linewidth=1.0, marker="_", markersize=3, label="95% CI of Δ"),
                Patch(color=BASELINE_COLOR, alpha=MARGIN_ALPHA, linewidth=0, label=f"±{margin:g} margin")]
    rows = 1 if width == "double" else 3
    fig.legend(handles=handles, loc="outside upper center", ncol=-(-len(handles) // rows),
               handletextpad=0.3, columnspacing=1.0, handlelength=1.4)
    return fig
