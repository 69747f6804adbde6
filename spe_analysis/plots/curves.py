"""Learning curves across seeds: test accuracy and train loss per epoch, mean with a 95% band,
for the baseline, the best and the worst mix cell, and every other pool the sweep ran."""
from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

from ..stats.cells import BASELINE
from .data import Sweep, cell_key, finite, short_label
from .style import BASELINE_COLOR, OKABE_ITO, VERDICT_COLORS, new_figure

WIDTH = "single"
CAPTION = ("Test accuracy and train loss per epoch, mean over seeds with a 95% CI band, for "
           "the avg baseline, the best and the worst mix cell and the other pools.")
# (field, axis label, the range its values can take): a band is cut to that range, since a
# t-interval of a few seeds near 100% would otherwise promise accuracies above 100.
PANELS = (("test_acc", "test accuracy (%)", (0.0, 100.0)), ("train_loss", "train loss", (0.0, np.inf)))
# Fixed colours for the other pools (Okabe-Ito, none shared with best/worst).
POOL_COLORS = {"max": OKABE_ITO[7], "min": OKABE_ITO[2], "learned": OKABE_ITO[1],
               "avgmax": OKABE_ITO[3]}


def _series(sweep: Sweep) -> list[tuple[str, str, list[dict]]]:
    """(label, colour, runs) for each curve, baseline first."""
    # Best and worst among the tested cells, as the claim ranks them.
    ranked = sorted((c for c in sweep.mix_cells if c["verdict"] != "insufficient"),
                    key=lambda c: c["delta"])
    series = [("avg baseline", BASELINE_COLOR, sweep.runs.get(BASELINE, []))]
    if ranked:
        best, worst = ranked[-1], ranked[0]
        series.append((f"best: {short_label(best)}", VERDICT_COLORS["better"],
                       sweep.runs[cell_key(best)]))
        if worst is not best:
            series.append((f"worst: {short_label(worst)}", VERDICT_COLORS["worse"],
                           sweep.runs[cell_key(worst)]))
    for cell in sweep.other_cells:
        series.append((cell["pool"], POOL_COLORS.get(cell["pool"], OKABE_ITO[0]),
                       sweep.runs.get(cell_key(cell), [])))
    return [s for s in series if any(run.get("history") for run in s[2])]


def unsupported(sweep: Sweep) -> str | None:
    if not any(run.get("history") for runs in sweep.runs.values() for run in runs):
        return "no run carries a per-epoch history"
    return None


def mean_band(matrix: np.ndarray, level: float = 0.95):
    """Per-column mean and t-interval over the runs (rows) present; no band below two runs."""
    n = np.isfinite(matrix).sum(axis=0)
    # Columns with fewer than two runs have no spread: NaN there is the answer, not a problem.
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(matrix, axis=0)
        half = stats.t.ppf(0.5 + level / 2, n - 1) * np.nanstd(matrix, axis=0, ddof=1) / np.sqrt(n)
    half[n < 2] = np.nan
    return mean, mean - half, mean + half


def history_matrix(runs: list[dict], field: str) -> tuple[np.ndarray, np.ndarray]:
    """(epochs, runs x epochs values), NaN where a run has no value for an epoch."""
    epochs = sorted({row["epoch"] for run in runs for row in run.get("history") or []})
    matrix = np.full((len(runs), len(epochs)), np.nan)
    for i, run in enumerate(runs):
        for row in run.get("history") or []:
            matrix[i, epochs.index(row["epoch"])] = finite(row.get(field))
    return np.asarray(epochs, float), matrix


def plot(sweep: Sweep, width: str = WIDTH):
    single = width == "single"
    fig = new_figure(width, 3.6 if single else 2.3)
    axes = fig.subplots(2, 1, sharex=True) if single else fig.subplots(1, 2)
    for ax, (field, label, (floor, ceiling)) in zip(axes, PANELS):
        for rank, (name, colour, runs) in enumerate(_series(sweep)):
            epochs, matrix = history_matrix(runs, field)
            mean, low, high = mean_band(matrix)
            on_top = 3 if rank == 0 else 2  # the baseline stays visible where curves coincide
            ax.fill_between(epochs, np.clip(low, floor, ceiling), np.clip(high, floor, ceiling),
                            color=colour, alpha=0.18, linewidth=0)
            ax.plot(epochs, mean, color=colour, label=f"{name} (n={len(runs)})", zorder=on_top)
        ax.set_ylabel(label)
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
    if single:
        axes[0].set_xlabel("")
        axes[0].tick_params(labelbottom=True)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=2 if single else 3,
               handlelength=1.5, columnspacing=1.0)
    fig.suptitle("mean over seeds, band: 95% CI", fontsize=6)
    return fig
