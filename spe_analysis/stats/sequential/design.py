"""Group-sequential boundaries and the decision at one look: arrays in, numbers out.

Convention (Lan & DeMets 1983).  Looks are planned at n_1 < ... < n_K seeds per arm; the
information fraction of look k is t_k = n_k / n_K.  The cumulative alpha spent by t is

    obf:     alpha(t) = 2 - 2 * Phi(z_{1 - alpha/2} / sqrt(t))     (O'Brien-Fleming type)
    pocock:  alpha(t) = alpha * ln(1 + (e - 1) * t)                 (Pocock type)

The boundaries c_k on the z scale make the probability of first crossing at look k equal to
alpha(t_k) - alpha(t_{k-1}) under the joint normal of the statistics across looks,
corr(Z_i, Z_j) = sqrt(t_i / t_j): two-sided (|Z_k| >= c_k) for a difference, one-sided
(Z_k >= c_k, the same spending at one-sided level alpha) for each half of TOST.  The
crossing probabilities come from the recursive numerical integration of Armitage, McPherson
and Rowe (1969) on the score scale S_k = Z_k sqrt(t_k), a Brownian motion in t.

Across cells the spending is split by Bonferroni: every cell is tested at alpha / cells.
The statistic at a look is Welch's t of cell against baseline on the seeds so far; it crosses
when its p-value is below the nominal p of the boundary (2 * (1 - Phi(c_k)) two-sided,
1 - Phi(c_k) one-sided), i.e. |t| is compared with the t quantile of that nominal p.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
from scipy import optimize, special, stats

from ...errors import SpeError, choose, fraction, positive
from ...names import SPENDING

SPENDING_NAMES = {"obf": "Lan-DeMets O'Brien-Fleming type", "pocock": "Lan-DeMets Pocock type"}
GRID_POINTS = 301  # Simpson nodes per look; 801 nodes move no boundary by more than 1e-7
# Decision codes of one look, as the verdict words of CONTRACT.md.
CONTINUE, BETTER, WORSE, EQUIVALENT = 0, 1, 2, 3
DECISIONS = {BETTER: "better", WORSE: "worse", EQUIVALENT: "equivalent"}


def spent(t, alpha: float, spending: str) -> np.ndarray:
    """Cumulative alpha spent at information fraction(s) ``t`` (0 < t <= 1)."""
    choose("spending", spending, SPENDING)
    t = np.asarray(t, float)
    if spending == "obf":
        return 2.0 - 2.0 * stats.norm.cdf(stats.norm.isf(alpha / 2) / np.sqrt(t))
    return alpha * np.log1p((math.e - 1.0) * t)


def _normal_pdf(x: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)  # scipy's pdf is 4x slower on big grids


def _simpson(low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and Simpson weights on [low, high]."""
    nodes = np.linspace(low, high, GRID_POINTS)
    weights = np.ones(GRID_POINTS)
    weights[1:-1:2], weights[2:-1:2] = 4.0, 2.0
    return nodes, weights * (high - low) / (3.0 * (GRID_POINTS - 1))


@lru_cache(maxsize=256)
def _boundaries(fractions: tuple[float, ...], alpha: float, spending: str, sides: int) -> tuple:
    increments = np.diff(spent(fractions, alpha, spending), prepend=0.0)
    out, nodes, density = [], None, None  # Simpson-weighted density of S on the continuation region
    previous_t = 0.0
    for t, target in zip(fractions, increments):
        step, reach = math.sqrt(t - previous_t), 12.0 * math.sqrt(t)  # S_k ~ N(0, t): 12 SD is all of it

        def crossing(b: float) -> float:
            """P(no crossing at earlier looks, crossing b now), on the score scale."""
            if nodes is None:
                return float(sides * special.ndtr(-b / step))
            far = special.ndtr((-b - nodes) / step) if sides == 2 else 0.0
            return float(np.dot(density, special.ndtr((nodes - b) / step) + far))

        bound = math.inf if target <= 0 else optimize.brentq(
            lambda b: crossing(b) - target, 0.0 if sides == 2 else -reach, 4 * reach, xtol=1e-12)
        out.append(bound / math.sqrt(t))
        new_nodes, weights = _simpson(-min(bound, reach) if sides == 2 else -reach, min(bound, reach))
        if nodes is None:
            new_density = _normal_pdf(new_nodes / step) / step
        else:
            new_density = (_normal_pdf((new_nodes[:, None] - nodes[None, :]) / step) / step) @ density
        nodes, density, previous_t = new_nodes, new_density * weights, t
    return tuple(out)


def boundaries(fractions, alpha: float, spending: str = "obf", sides: int = 2) -> np.ndarray:
    """z boundaries at the information fractions (increasing, the last 1); ``sides`` 2 or 1."""
    fractions = tuple(float(f) for f in fractions)
    return np.array(_boundaries(fractions, float(alpha), spending, int(sides)))


def nominal_p(z, sides: int = 2) -> np.ndarray:
    """The fixed-sample p-value a statistic must fall below to cross boundary ``z``."""
    return sides * stats.norm.sf(np.asarray(z, float))


def parse_looks(looks, max_seeds: int | None = None) -> list[int]:
    """Seeds per arm at each look: a list (``3,5,8,12``) or a count K with ``max_seeds`` N
    (equally spaced, rounded up: ceil(k N / K))."""
    if isinstance(looks, str):
        parts = [p.strip() for p in looks.split(",") if p.strip()]
        try:
            looks = [int(p) for p in parts]
        except ValueError:
            raise SpeError(f"--looks must be seeds per arm at each look (e.g. 3,5,8,12) or a count "
                           f"with --max-seeds, got {','.join(parts)!r}") from None
    elif isinstance(looks, int):
        looks = [looks]
    looks = list(looks)
    if len(looks) == 1 and max_seeds is not None:
        count = looks[0]
        if not 1 <= count <= max_seeds:
            raise SpeError(f"--looks {count} must lie between 1 and --max-seeds {max_seeds}")
        looks = [-(-k * max_seeds // count) for k in range(1, count + 1)]  # ceil, in integers
    if not looks or any(isinstance(n, bool) or not isinstance(n, int) for n in looks) or looks[0] < 2 \
            or any(b <= a for a, b in zip(looks, looks[1:])):
        raise SpeError(f"--looks must be increasing whole numbers of seeds per arm, the first at "
                       f"least 2 (e.g. 3,5,8,12), got {looks}")
    if max_seeds is not None and looks[-1] != max_seeds:
        raise SpeError(f"the last look ({looks[-1]} seeds) must equal --max-seeds {max_seeds}")
    return looks


@dataclass(frozen=True)
class Design:
    """A group-sequential comparison of ``cells`` cells against one baseline."""
    looks: tuple[int, ...]
    spending: str = "obf"
    alpha: float = 0.05  # family-wise, two-sided
    margin: float = 0.5
    cells: int = 1

    def __post_init__(self):
        parse_looks(list(self.looks))
        choose("spending", self.spending, SPENDING)
        fraction("--significance", self.alpha)
        positive("--margin", self.margin)

    @property
    def fractions(self) -> np.ndarray:
        return np.array(self.looks, float) / self.looks[-1]

    @property
    def cell_alpha(self) -> float:
        return self.alpha / max(self.cells, 1)

    @cached_property
    def z(self) -> np.ndarray:
        """Two-sided boundaries for a difference, at alpha / cells."""
        return boundaries(self.fractions, self.cell_alpha, self.spending, 2)

    @cached_property
    def z_equivalence(self) -> np.ndarray:
        """One-sided boundaries of each TOST half, at one-sided alpha / cells."""
        return boundaries(self.fractions, self.cell_alpha, self.spending, 1)

    @property
    def nominal_p(self) -> np.ndarray:
        return nominal_p(self.z, 2)

    @property
    def nominal_p_equivalence(self) -> np.ndarray:
        return nominal_p(self.z_equivalence, 1)

    def to_json(self) -> dict:
        """The ``sequential`` object of ``spe stats`` and ``spe plan`` JSON (CONTRACT.md)."""
        return {"looks": list(self.looks), "spending": self.spending,
                "boundaries": [float(z) for z in self.z], "nominal_p": [float(p) for p in self.nominal_p],
                "information_fractions": [float(t) for t in self.fractions], "alpha": self.alpha,
                "cells": self.cells, "alpha_per_cell": self.cell_alpha, "multiplicity": "bonferroni",
                "equivalence_boundaries": [float(z) for z in self.z_equivalence],
                "equivalence_nominal_p": [float(p) for p in self.nominal_p_equivalence]}


def welch_moments(cell, base) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean difference, its standard error, Welch's degrees of freedom) along the last axis.

    The moments are computed once for the three tests of a look, which is what makes
    simulating thousands of sweeps fast; the p-values equal scipy's ttest_ind(equal_var=False)."""
    cell, base = np.asarray(cell, float), np.asarray(base, float)
    n1, n2 = cell.shape[-1], base.shape[-1]
    v1, v2 = cell.var(axis=-1, ddof=1) / n1, base.var(axis=-1, ddof=1) / n2
    se = np.sqrt(v1 + v2)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (v1 + v2) ** 2 / (v1 ** 2 / (n1 - 1) + v2 ** 2 / (n2 - 1))
    return cell.mean(axis=-1) - base.mean(axis=-1), se, df


def welch_p(diff, se, df, alternative: str = "two-sided", shift: float = 0.0) -> np.ndarray:
    """Welch p-value of ``diff`` against ``shift``; with no spread at all (se = 0) the limit of
    hypothesis.welch (0, 0.5 or 1)."""
    gap = np.asarray(diff - shift, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = gap / se
        if alternative == "two-sided":
            p = 2.0 * stats.t.sf(np.abs(t), df)
        else:
            p = stats.t.sf(t, df) if alternative == "greater" else stats.t.cdf(t, df)
    if alternative == "two-sided":
        limit = np.where(gap == 0, 1.0, 0.0)
    else:
        limit = np.where(gap == 0, 0.5, np.where((gap > 0) == (alternative == "greater"), 0.0, 1.0))
    return np.where(se > 0, p, limit)


def decide(cell, base, design: Design, look: int) -> np.ndarray:
    """Decision codes at look index ``look`` (0-based) for cell - base along the last axis.

    better / worse when the two-sided Welch p is below the look's nominal p; else equivalent
    when both one-sided tests at -margin and +margin are below the equivalence nominal p.
    """
    diff, se, df = welch_moments(cell, base)
    differs = welch_p(diff, se, df) < design.nominal_p[look]
    tost = np.maximum(welch_p(diff, se, df, "greater", -design.margin),
                      welch_p(diff, se, df, "less", design.margin))
    code = np.where(tost < design.nominal_p_equivalence[look], EQUIVALENT, CONTINUE)
    return np.where(differs & (diff != 0), np.where(diff > 0, BETTER, WORSE), code)
