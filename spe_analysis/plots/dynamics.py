"""How the learned pool's weight p moves: |p| and the mean per-step turn of p per epoch,
against the turn predicted for a scale-invariant weight at equilibrium.

lam depends only on the direction of p.  For such a weight trained by SGD with learning
rate lr, heavy-ball momentum mu and weight decay wd, the angle p turns per step settles at
``sqrt(2 * lr * wd / (1 + mu))`` radians (Wan et al. 2021, "Spherical Motion Dynamics",
Theorem 2; van Laarhoven 2017 for mu = 0).  The SPEM regulariser ``pool_reg * |p|^2`` adds
``2 * pool_reg`` to the decay, so ``wd_eff = 2 * pool_reg + weight_decay``; Nesterov momentum
is taken to behave as heavy-ball.  The dashed line is that prediction, averaged over each
epoch's steps of the run's own lr schedule.
"""
from __future__ import annotations

import math

import numpy as np
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from ..training.config import RunConfig
from ..training.schedule import lr_factor
from .curves import history_matrix
from .data import Sweep
from .lam import block_count_problem, learned_runs
from .style import OKABE_ITO, new_figure, number

WIDTH = "double"
CAPTION = ("The learned pool's |p| and mean per-step turn of p per epoch (median over blocks; "
           "thin: each seed, thick: mean over seeds), with the equilibrium turn "
           "sqrt(2·lr·wd_eff/(1+μ)) predicted from each run's lr schedule (dashed).")
FIELDS = ("p_norm", "p_turn")
COLORS = (OKABE_ITO[5], OKABE_ITO[6], OKABE_ITO[3], OKABE_ITO[1], OKABE_ITO[7])


def equilibrium_turn(lr: float, decay: float, momentum: float) -> float:
    """Predicted per-step turn in degrees of a scale-invariant weight (see module docstring)."""
    return math.degrees(math.sqrt(2.0 * lr * decay / (1.0 + momentum)))


def steps_per_epoch(record: dict) -> int:
    """Optimiser steps per epoch, from the images the run trained on (steps x batch)."""
    metrics, epochs = record["metrics"], len(record["history"])
    images = metrics["images_per_second"] * metrics["train_seconds"]
    return max(1, round(images / (epochs * record["config"]["batch_size"])))


def predicted_turns(record: dict) -> list[float]:
    """Each epoch's mean predicted turn (degrees) under the run's own lr schedule."""
    config = RunConfig.from_dict(record["config"])
    steps = steps_per_epoch(record)
    decay = 2.0 * config.pool_reg + config.weight_decay
    return [float(np.mean([equilibrium_turn(config.lr * lr_factor(config, s, steps), decay,
                                            config.momentum)
                           for s in range((e - 1) * steps, e * steps)]))
            for e in range(1, len(record["history"]) + 1)]


def unsupported(sweep: Sweep) -> str | None:
    for field in FIELDS:
        problem = block_count_problem(sweep, field)
        if problem:
            return problem
    return None


def _median_over_blocks(runs: list[dict], field: str) -> tuple[np.ndarray, np.ndarray]:
    rows = [{**run, "history": [{"epoch": row["epoch"], field: float(np.median(
        [np.nan if v is None else v for v in row[field]]))} for row in run["history"]]}
        for run in runs]
    return history_matrix(rows, field)


def plot(sweep: Sweep, width: str = WIDTH):
    runs = [run for run in learned_runs(sweep, "p_turn") if run in learned_runs(sweep, "p_norm")]
    regs = sorted({run["config"]["pool_reg"] for run in runs}, reverse=True)
    single = width == "single"
    fig = new_figure(width, 3.6 if single else 2.2)
    axes = fig.subplots(2, 1, sharex=True) if single else fig.subplots(1, 2)
    for i, reg in enumerate(regs):
        group = [run for run in runs if run["config"]["pool_reg"] == reg]
        colour = COLORS[i % len(COLORS)]
        for ax, field in zip(axes, FIELDS):
            epochs, matrix = _median_over_blocks(group, field)
            for seed_values in matrix:
                ax.plot(epochs, seed_values, color=colour, linewidth=0.4, alpha=0.6)
            ax.plot(epochs, np.nanmean(matrix, axis=0), color=colour, linewidth=1.3,
                    label=f"pool_reg = {number(reg)} (n={len(group)})")
        predicted = np.mean([predicted_turns(run) for run in group], axis=0)
        axes[1].plot(epochs, predicted, color=colour, linewidth=0.9, linestyle=(0, (3, 2)))
    axes[0].set_ylabel("|p| at the end of the epoch")
    axes[1].set_ylabel("mean turn of p per step (°)")
    axes[1].set_yscale("log")
    # Plain numbers at 1-2-3-5 steps: the log formatter would write 3×10⁰ where 3 is meant.
    axes[1].yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 3.0, 5.0)))
    axes[1].yaxis.set_major_formatter(FuncFormatter(lambda value, _: number(value)))
    axes[1].yaxis.set_minor_formatter(NullFormatter())
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
    if single:
        axes[0].set_xlabel("")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(regs),
               handlelength=1.5, columnspacing=1.0)
    fig.suptitle("median over blocks; thin: each seed, thick: mean;" + ("\n" if single else " ")
                 + "dashed: predicted turn √(2·lr·wd_eff/(1+μ)), wd_eff = 2·pool_reg + wd",
                 fontsize=6)
    return fig
