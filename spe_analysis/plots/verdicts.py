"""The verdict matrix: settings x cells, coloured by delta, marked by verdict, pooled row last.

Each setting's row holds its own `spe stats` delta and verdict for every cell; the bottom
row holds the random-effects estimate across settings and its verdict.  Colour uses the
heatmap's diverging scale, centred on zero; hatching marks fewer than 2 runs, blank a cell
the setting did not run.
"""
from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import TwoSlopeNorm
from matplotlib.patches import Rectangle

from .data import finite, short_label
from ..stats.across_settings import setting_labels
from .settings import Meta
from .style import BASELINE_COLOR, DIVERGING_CMAP, fit_xticks, new_figure, number

WIDTH = "double"
CAPTION = ("Every setting's difference to its avg baseline per cell (its own spe stats verdict) "
           "and, in the bottom row, the random-effects estimate across settings and its "
           "verdict. ▲ better, ▼ worse, ≈ equivalent, ? inconclusive; hatched: fewer than 2 "
           "runs (or settings), not tested; blank: not run.")
MARKS = {"better": "▲", "worse": "▼", "equivalent": "≈", "inconclusive": "?"}
ROW = 0.22  # inches per row


def unsupported(meta: Meta) -> str | None:
    return None if meta.result["cells"] else "no cell in these settings"


def _matrix(meta: Meta) -> tuple[np.ndarray, list[list[str | None]], np.ndarray]:
    """delta, verdict and whether a run diverged per (row, cell): row 0 is the pooled one, then
    the settings upwards."""
    cells = meta.result["cells"]
    n = len(meta.result["settings"])
    delta = np.full((n + 1, len(cells)), np.nan)
    diverged = np.zeros((n + 1, len(cells)), bool)
    verdicts: list[list[str | None]] = [[None] * len(cells) for _ in range(n + 1)]
    for j, cell in enumerate(cells):
        entries = [cell, *reversed(cell["studies"])]  # bottom to top
        for i, entry in enumerate(entries):
            verdicts[i][j] = entry["verdict"]
            diverged[i, j] = entry["n_diverged"] > 0
            if entry["verdict"] not in (None, "insufficient"):
                delta[i, j] = finite(entry["delta"])
    return delta, verdicts, diverged


def plot(meta: Meta, width: str = WIDTH):
    result = meta.result
    cells = result["cells"]
    delta, verdicts, diverged = _matrix(meta)
    rows, cols = delta.shape
    fig = new_figure(width, min(rows * ROW + 1.1, 8.0))
    ax = fig.add_subplot()

    lim = np.nanmax(np.abs(delta)) if np.isfinite(delta).any() else 0.0
    lim = lim if lim > 0 else 1.0
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-lim, vmax=lim)
    cmap = colormaps[DIVERGING_CMAP]
    mesh = ax.pcolormesh(np.ma.masked_invalid(delta), cmap=cmap, norm=norm, edgecolors="white",
                         linewidth=0.6)
    ax.set_facecolor("white")
    ax.axhline(1.0, color="white", linewidth=2.5)  # sets the pooled row apart
    bar = fig.colorbar(mesh, ax=ax, shrink=0.9, aspect=25, pad=0.02)
    bar.set_label("Δ vs avg (points)")
    bar.outline.set_linewidth(0.4)

    cell_in = 0.8 * fig.get_figwidth() / cols
    numbers = cell_in * 72 >= 4.3 * 5.0  # room for '+0.00' at 5 pt
    for (i, j), verdict in np.ndenumerate(np.array(verdicts, dtype=object)):
        if verdict is None:
            continue
        if verdict == "insufficient":
            ax.add_patch(Rectangle((j, i), 1, 1, fill=False, hatch="/////", linewidth=0))
            continue
        value = delta[i, j]
        r, g, b, _ = cmap(norm(value))
        colour = "white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.45 else "black"
        text = f"{number(value, '+.2f')} {MARKS[verdict]}" if numbers else MARKS[verdict]
        text += "†" if diverged[i, j] else ""
        ax.text(j + 0.5, i + 0.5, text, ha="center", va="center", fontsize=5, color=colour,
                fontweight="bold" if i == 0 else "normal")

    labels = [short_label(c) for c in cells]
    fit_xticks(ax, labels, cell_in * cols, 5, stacked=[short_label(c, "\n") for c in cells],
               offset=0.5)
    names = list(setting_labels(result["settings"], keys=False).values())
    ax.set_yticks(np.arange(rows) + 0.5, ["pooled", *reversed(names)], fontsize=5)
    ax.get_yticklabels()[0].set_fontweight("bold")
    ax.tick_params(length=0)
    for side in ("left", "bottom"):
        ax.spines[side].set_visible(False)
    key = [f"▲ better  ▼ worse  ≈ equivalent (±{result['margin']:g})  ? inconclusive",
           f"hatched: too few runs   blank: not run   rows: {', '.join(result['group_by'])}"
           + ("   †: runs diverged" if diverged.any() else "")]
    fig.suptitle(("   " if width == "double" else "\n").join(key), x=0.01, ha="left",
                 fontsize=6, color=BASELINE_COLOR)  # over the whole width, labels included
    return fig
