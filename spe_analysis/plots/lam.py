"""The learned pool's mixing weight per block over training (the SPEM self-adaptive lam).

lam = p0^2 / (p0^2 + p1^2) weights the max branch and 1 - lam the min branch; each
learned run's history row carries one lam per block, and the lines are their mean over seeds.
"""
from __future__ import annotations

import warnings

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize

from .data import Sweep
from .style import BASELINE_COLOR, DEPTH_CMAP, new_figure

WIDTH = "single"
CAPTION = ("The learned pool's mixing weight λ (on max; 1 − λ on min) per block over "
           "training, mean over seeds; colour runs from the first block to the last.")
LAM_INIT = 0.5  # p starts at [0.5, 0.5]
LEARNED = ("learned", None, None)


def _learned_runs(sweep: Sweep) -> list[dict]:
    runs = sweep.runs.get(LEARNED, [])
    return [run for run in runs if run.get("history") and
            all(isinstance(row.get("lam"), list) and row["lam"] for row in run["history"])]


def unsupported(sweep: Sweep) -> str | None:
    if not sweep.runs.get(LEARNED):
        return "no learned runs (add them with 'spe sweep --also learned')"
    runs = _learned_runs(sweep)
    if not runs:
        return "no learned run has per-block 'lam' in its history"
    if len({len(row["lam"]) for run in runs for row in run["history"]}) > 1:
        return "learned runs differ in their number of blocks"
    return None


def plot(sweep: Sweep, width: str = WIDTH):
    runs = _learned_runs(sweep)
    epochs = sorted({row["epoch"] for run in runs for row in run["history"]})
    blocks = len(runs[0]["history"][0]["lam"])
    lam = np.full((len(runs), len(epochs), blocks), np.nan)
    for i, run in enumerate(runs):
        for row in run["history"]:
            lam[i, epochs.index(row["epoch"])] = [np.nan if v is None else v for v in row["lam"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a block with no value stays NaN
        mean = np.nanmean(lam, axis=0)

    fig = new_figure(width, 2.3 if width == "single" else 2.6)
    ax = fig.add_subplot()
    cmap, norm = colormaps[DEPTH_CMAP], Normalize(1, max(blocks, 2))
    ax.axhline(LAM_INIT, color=BASELINE_COLOR, linewidth=0.5, linestyle=(0, (3, 2)))
    for b in range(blocks):
        ax.plot(epochs, mean[:, b], color=cmap(norm(b + 1)), linewidth=0.8)
    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, aspect=25, pad=0.02)
    bar.set_label("block (input → output)")
    bar.outline.set_linewidth(0.4)
    bar.ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("epoch")
    ax.set_ylabel("λ (weight on max; 1 − λ on min)")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_title(f"learned pool, mean over {len(runs)} seed{'s' * (len(runs) != 1)}; "
                 f"dashed: initial λ = {LAM_INIT:g}", loc="left", fontsize=6)
    return fig
