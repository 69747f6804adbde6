"""The alpha x beta grid, coloured by the difference to the avg baseline.

Each cell shows its delta and, from the adjusted p-value, significance stars; '≈' marks an
equivalent cell and hatching a cell with too few runs to test.
"""
from __future__ import annotations

import math

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import TwoSlopeNorm
from matplotlib.patches import Rectangle

from .data import Sweep, finite
from .style import DIVERGING_CMAP, fit_xticks, new_figure, number

WIDTH = "single"
CAPTION = ("Difference of each α·max + β·min cell to the avg baseline, in accuracy points. "
           "Stars: adjusted p < .05 / .01 / .001; ≈: equivalent within the margin (TOST); "
           "hatched: fewer than 2 runs, not tested; grey with a dash: α = β = 0, a constant "
           "statistic that the sweep left out.")
LEFT_OUT = "0.9"  # the grey of the alpha = beta = 0 grid point, which no default sweep runs
INSUFFICIENT_BOX = {"facecolor": "white", "edgecolor": "none", "pad": 1.0}  # text over hatching
STARS = ((0.001, "***"), (0.01, "**"), (0.05, "*"))


def stars(p: float | None) -> str:
    """'***', '**', '*' for p below .001, .01, .05; '' otherwise or when p is missing."""
    if p is None or not math.isfinite(p):
        return ""
    return next((mark for bound, mark in STARS if p < bound), "")


def unsupported(sweep: Sweep) -> str | None:
    return None if sweep.mix_cells else "no mix cells"


def plot(sweep: Sweep, width: str = WIDTH):
    cells = sweep.mix_cells
    alphas = sorted({c["alpha"] for c in cells})
    betas = sorted({c["beta"] for c in cells})
    delta = np.full((len(alphas), len(betas)), np.nan)
    for c in cells:  # an untested cell gets no colour: its delta rests on under two runs
        if c["verdict"] != "insufficient":
            delta[alphas.index(c["alpha"]), betas.index(c["beta"])] = finite(c["delta"])

    zero_left_out = 0.0 in alphas and 0.0 in betas and not any(
        c["alpha"] == 0 and c["beta"] == 0 for c in cells)

    # Cells stay near square (at most 0.6 in tall): the height follows the grid's shape; the
    # note on the left-out corner takes one more title line.
    cell_w = {"single": 2.35, "double": 5.6}[width] / len(betas)  # less axis labels and colour bar
    cell_h = min(cell_w, 0.6)
    titles = 0.9 + (0.1 if zero_left_out else 0.0)
    fig = new_figure(width, min(max(cell_h * len(alphas) + titles, 1.8), 6.0))
    ax = fig.add_subplot()

    lim = np.nanmax(np.abs(delta)) if np.isfinite(delta).any() else 0.0
    lim = lim if lim > 0 else 1.0
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-lim, vmax=lim)
    cmap = colormaps[DIVERGING_CMAP]
    mesh = ax.pcolormesh(np.ma.masked_invalid(delta), cmap=cmap, norm=norm,
                         edgecolors="white", linewidth=0.6)
    ax.set_facecolor("white")
    bar = fig.colorbar(mesh, ax=ax, shrink=0.9, aspect=25, pad=0.02)
    bar.set_label("Δ vs avg (points)")
    bar.outline.set_linewidth(0.4)

    # Text size follows the cell size ("+0.00" is about 3 em wide, plus air); in cells too
    # small for a legible number (under 4 pt) only the marks are written, colour tells delta.
    cell_pt = 72 * min(cell_w, (fig.get_figheight() - titles) / len(alphas))
    fontsize = min(6.0, cell_pt / 4.3)
    numbers = fontsize >= 4.0
    fontsize = max(fontsize, 4.0)
    for c in cells:
        i, j = alphas.index(c["alpha"]), betas.index(c["beta"])
        value = delta[i, j]
        if c["verdict"] == "insufficient":
            ax.add_patch(Rectangle((j, i), 1, 1, fill=False, hatch="/////", linewidth=0))
            text, colour, box = f"n={c['n']}", "black", INSUFFICIENT_BOX
        else:
            mark = "≈" if c["verdict"] == "equivalent" else stars(c["p_adjusted"])
            text = "\n".join(filter(None, [number(value, "+.2f") if numbers else "", mark]))
            r, g, b, _ = cmap(norm(value))
            colour = "white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.45 else "black"
            box = None
        ax.text(j + 0.5, i + 0.5, text, ha="center", va="center", fontsize=fontsize,
                color=colour, linespacing=1.0, bbox=box)

    if zero_left_out:  # say why the corner is empty rather than leave a reader to guess
        i, j = alphas.index(0.0), betas.index(0.0)
        ax.add_patch(Rectangle((j, i), 1, 1, facecolor=LEFT_OUT, edgecolor="white", linewidth=0.6))
        ax.text(j + 0.5, i + 0.5, "—", ha="center", va="center", fontsize=fontsize, color="0.35")

    fit_xticks(ax, [number(b) for b in betas], cell_w * len(betas), 6, offset=0.5)
    ax.set_yticks(np.arange(len(alphas)) + 0.5, [number(a) for a in alphas])
    ax.tick_params(length=0)
    for side in ("left", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set_xlabel("β (min weight)")
    ax.set_ylabel("α (max weight)")
    key = f"* ** ***: adj. p < .05 .01 .001   ≈: equivalent (±{sweep.stats['margin']:g})"
    left_out = ["—: α = β = 0 not run (a constant statistic)"] if zero_left_out else []
    ax.set_title("\n".join([*sweep.baseline_caption, key, *left_out]), loc="left", fontsize=6)
    return fig
