"""The moderator figure: per mix cell, each setting's delta against a numeric moderator, with
the meta-regression line and its 95% confidence band.

One panel per mix cell, laid out as the alpha x beta grid (as the forest plot).  Each setting
is a marker of its own shape and colour at its moderator value, with its `spe stats` 95% CI
(settings that share a value are set slightly apart); the line is the fitted delta
``b0 + b1 x`` of ``spe meta --moderator`` with its confidence band, drawn over the settings'
range.  The grey band is the equivalence margin.  The moderator is the one of
``spe meta --moderator`` (``spe plot --moderator KEY``), else the setting's avg baseline
accuracy (``baseline_acc``).
"""
from __future__ import annotations

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..errors import SpeError
from ..stats.across_settings import setting_labels
from ..stats.meta_regression import predict
from ..stats.moderators import BASELINE_ACC, design, regression
from ..stats.tables import p_text
from .data import finite, short_label
from .forest import MARGIN_ALPHA, grid_layout
from .settings import Meta
from .style import BASELINE_COLOR, new_figure

WIDTH = "double"
CAPTION = ("Per mix cell, each setting's difference to its avg baseline (marker, with the 95% CI "
           "of spe stats) against the moderator, and the random-effects meta-regression line "
           "with its 95% confidence band (slope, its p and R², the share of the between-setting "
           "variance it explains, above each panel). Grey band: the equivalence margin.")
FIT_COLOR = "#0072B2"
# Okabe-Ito without yellow (too faint in print) and the fit's blue, each with its own marker.
SETTING_COLORS = ("#E69F00", "#56B4E9", "#009E73", "#D55E00", "#CC79A7", "#000000")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "h")
X_LABELS = {BASELINE_ACC: "avg baseline accuracy of the setting (%)"}
GRID = 101  # points along the fitted line


def regression_of(meta: Meta) -> dict:
    """The regression to draw: spe meta's, else one on baseline_acc; SpeError unless it has
    exactly one numeric moderator."""
    result = meta.result
    reg = result.get("regression") or regression(result, design(result["settings"], [BASELINE_ACC]))
    (key, *others) = reg["moderators"]
    if others or reg["kinds"][key] != "numeric":
        raise SpeError(f"the moderator figure draws one numeric moderator (a number such as "
                       f"epochs, or {BASELINE_ACC}), not {', '.join(reg['moderators'])}")
    return reg


def _fitted(reg: dict) -> dict:
    return {(c["pool"], c["alpha"], c["beta"]): c for c in reg["cells"] if c["note"] is None}


def unsupported(meta: Meta) -> str | None:
    if not meta.mix_cells:
        return "no mix cell in these settings"
    try:
        reg = regression_of(meta)
    except SpeError as exc:
        return str(exc)
    return None if _fitted(reg) else "no mix cell has enough settings for the meta-regression"


def _positions(values: list, span: float) -> list[float]:
    """Each setting's x: its moderator value, set apart by 1.5% of the span where shared."""
    out = []
    for i, value in enumerate(values):
        same = [j for j, other in enumerate(values) if other == value]
        out.append(finite(value) + 0.015 * span * (same.index(i) - (len(same) - 1) / 2))
    return out


def _band(fit: dict, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    estimates = [c["estimate"] for c in fit["coefficients"]]
    points = [predict(estimates, fit["vcov"], fit["df"], [1.0, x]) for x in grid]
    return tuple(np.array([getattr(p, k) for p in points]) for k in ("delta", "ci_low", "ci_high"))


def _title(cell: dict, fit: dict | None, width: str) -> str:
    if fit is None:
        return f"{short_label(cell)}   not fitted"
    slope = fit["coefficients"][1]
    sep = "   " if width == "double" else "\n"
    return (f"{short_label(cell)}{sep}slope {slope['estimate']:+.3f}, p {p_text(slope['p'])}, "
            f"R² {100 * fit['r2']:.0f}%")


def plot(meta: Meta, width: str = WIDTH):
    result = meta.result
    reg = regression_of(meta)
    key = reg["moderators"][0]
    fitted = _fitted(reg)
    cells = meta.mix_cells
    layout = grid_layout(cells)
    rows, cols = 1 + max(i for i, _ in layout), 1 + max(j for _, j in layout)
    fig = new_figure(width, min(1.55 * rows + 0.75, 9.0))
    axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False)

    values = [s["values"][key] for s in reg["settings"]]
    present = [finite(v) for v in values if v is not None]
    low, high = min(present), max(present)
    span = (high - low) or 1.0
    x = _positions(values, span)
    grid = np.linspace(low, high, GRID)
    margin = result["margin"]
    colours = [SETTING_COLORS[i % len(SETTING_COLORS)] for i in range(len(values))]
    markers = [MARKERS[i % len(MARKERS)] for i in range(len(values))]
    extent = [-margin, margin, 0.0]
    for (i, j), ax in np.ndenumerate(axes):
        cell = layout.get((i, j))
        if cell is None:
            ax.set_visible(False)
            continue
        ax.axhspan(-margin, margin, color=BASELINE_COLOR, alpha=MARGIN_ALPHA, linewidth=0, zorder=0)
        ax.axhline(0.0, color=BASELINE_COLOR, linewidth=0.5, zorder=1)
        fit = fitted.get((cell["pool"], cell["alpha"], cell["beta"]))
        if fit is not None:
            line, band_low, band_high = _band(fit, grid)
            ax.fill_between(grid, band_low, band_high, color=FIT_COLOR, alpha=0.18, linewidth=0,
                            zorder=1)
            ax.plot(grid, line, color=FIT_COLOR, linewidth=1.0, zorder=2)
        for s, study in enumerate(cell["studies"]):
            if study["delta"] is None or values[s] is None:
                continue
            delta, ci_low, ci_high = (finite(study[k]) for k in ("delta", "ci_low", "ci_high"))
            ax.plot([x[s], x[s]], [ci_low, ci_high], color=colours[s], linewidth=0.8, zorder=3)
            ax.plot(x[s], delta, marker=markers[s], markersize=3.2, color=colours[s],
                    markeredgecolor="black", markeredgewidth=0.3, linestyle="none", zorder=4)
            extent += [delta, ci_low, ci_high]
        ax.set_title(_title(cell, fit, width), fontsize=6 if width == "double" else 5, loc="left",
                     pad=2)
        # the first panel of a row names the y values, also where the grid's (0, 0) is empty
        ax.tick_params(labelsize=5, labelleft=all((i, c) not in layout for c in range(j)))
    extent = np.array([v for v in extent if np.isfinite(v)])
    pad = 0.06 * (extent.max() - extent.min())
    first = axes.flat[0]
    first.set_ylim(extent.min() - pad, extent.max() + pad)
    first.set_xlim(low - 0.06 * span, high + 0.06 * span)
    fig.supxlabel(X_LABELS.get(key, key), fontsize=6)
    fig.supylabel("Δ vs avg (points)", fontsize=6)

    labels = setting_labels(result["settings"], keys=False)
    handles = [Line2D([], [], marker=markers[s], color=colours[s], markeredgecolor="black",
                      markeredgewidth=0.3, markersize=3.2, linewidth=0.8, label=labels[setting["name"]])
               for s, setting in enumerate(result["settings"]) if values[s] is not None]
    handles += [Line2D([], [], color=FIT_COLOR, linewidth=1.0, label="meta-regression"),
                Patch(color=FIT_COLOR, alpha=0.18, linewidth=0, label="95% CI"),
                Patch(color=BASELINE_COLOR, alpha=MARGIN_ALPHA, linewidth=0,
                      label=f"±{margin:g} margin")]
    fig.legend(handles=handles, loc="outside upper center", ncol=min(len(handles), 4),
               handletextpad=0.3, columnspacing=0.9, handlelength=1.4, fontsize=5)
    return fig
