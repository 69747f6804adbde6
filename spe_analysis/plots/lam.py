"""The learned pool's mixing weight per block over training (the SPEM self-adaptive lam).

lam = p0^2 / (p0^2 + p1^2) weights the max branch and 1 - lam the min branch.  Each learned
run's history row carries one lam per block; every seed is drawn as a thin line and the mean
over seeds as a thick one, so a lam that flips from epoch to epoch stays visible.
"""
from __future__ import annotations

import math

import numpy as np

from .curves import history_matrix
from .data import Sweep
from .style import BASELINE_COLOR, OKABE_ITO, new_figure

WIDTH = "double"
CAPTION = ("The learned pool's mixing weight λ (on max; 1 − λ on min) per block over "
           "training: one thin line per seed, the thick line their mean.")
LAM_INIT = 0.5  # p starts at [0.5, 0.5]
LEARNED = ("learned", None, None)
MAX_PANELS = 12  # deeper networks show this many blocks, evenly spread over the depth


def learned_runs(sweep: Sweep, field: str = "lam") -> list[dict]:
    """The learned runs whose every history row has a per-block list ``field``."""
    runs = sweep.runs.get(LEARNED, [])
    return [run for run in runs if run.get("history") and
            all(isinstance(row.get(field), list) and row[field] for row in run["history"])]


def block_count_problem(sweep: Sweep, field: str) -> str | None:
    """Why the learned runs cannot be drawn block by block from ``field``, or None."""
    if not sweep.runs.get(LEARNED):
        return "no learned runs (add them with 'spe sweep --also learned')"
    runs = learned_runs(sweep, field)
    if not runs:
        return f"no learned run has per-block '{field}' in its history"
    if len({len(row[field]) for run in runs for row in run["history"]}) > 1:
        return "learned runs differ in their number of blocks"
    return None


def unsupported(sweep: Sweep) -> str | None:
    return block_count_problem(sweep, "lam")


def block_values(runs: list[dict], field: str, block: int) -> tuple[np.ndarray, np.ndarray]:
    """(epochs, runs x epochs) of one block's per-block ``field``."""
    rows = [{**run, "history": [{"epoch": row["epoch"], field: row[field][block]}
                                for row in run["history"]]} for run in runs]
    return history_matrix(rows, field)


def shown_blocks(blocks: int) -> list[int]:
    if blocks <= MAX_PANELS:
        return list(range(blocks))
    return sorted({round(i * (blocks - 1) / (MAX_PANELS - 1)) for i in range(MAX_PANELS)})


def plot(sweep: Sweep, width: str = WIDTH):
    runs = learned_runs(sweep)
    blocks = shown_blocks(len(runs[0]["history"][0]["lam"]))
    rows = math.ceil(len(blocks) / (3 if width == "single" else 6))
    columns = math.ceil(len(blocks) / rows)  # balanced rows: 9 blocks are 5 + 4, not 6 + 3
    fig = new_figure(width, 0.25 + 1.05 * rows)
    axes = np.atleast_1d(fig.subplots(rows, columns, sharex=True, sharey=True)).ravel()
    for ax, block in zip(axes, blocks):
        epochs, lam = block_values(runs, "lam", block)
        ax.axhline(LAM_INIT, color=BASELINE_COLOR, linewidth=0.4, linestyle=(0, (3, 2)))
        for seed_values in lam:
            ax.plot(epochs, seed_values, color=OKABE_ITO[2], linewidth=0.5, alpha=0.8)
        ax.plot(epochs, np.nanmean(lam, axis=0), color=OKABE_ITO[5], linewidth=1.4)
        ax.set_title(f"block {block + 1}", fontsize=6, pad=2)
        ax.set_ylim(-0.03, 1.03)
        ax.set_yticks([0, 0.5, 1])
        ax.xaxis.get_major_locator().set_params(integer=True)
    for ax in axes[len(blocks):]:
        ax.set_visible(False)
    fig.supxlabel("epoch", fontsize=7)
    fig.supylabel("λ (weight on max)", fontsize=7)
    fig.suptitle(f"learned pool: {len(runs)} seed{'s' * (len(runs) != 1)} (thin) and their "
                 f"mean (thick); dashed: initial λ = {LAM_INIT:g}", fontsize=6)
    return fig
