"""How many seeds per arm a sweep needs: power of the two-sided Welch test and of TOST.

Both powers come from the noncentral t (scipy.stats.nct) for two arms of n runs with a
common SD, where Welch's degrees of freedom are 2 (n - 1).  ``spe plan`` and the
"seeds needed" sentence of ``spe stats`` both go through :func:`seeds_to_detect` and
:func:`seeds_for_equivalence`; the tests check the answers by simulation.
"""
from __future__ import annotations

import math
from typing import Callable

from scipy import stats

from ..errors import choose, fraction, positive, positive_int
from .corrections import CORRECTIONS

MAX_SEEDS = 1_000_000


def comparison_alpha(significance: float, cells: int, correction: str) -> float:
    """The per-comparison level a cell must reach under ``correction`` over ``cells`` comparisons.

    Planning takes the strictest step, so the answer holds however many other cells differ:
    significance / K for holm and bh (their first step), and for dunnett (slightly less strict
    in truth); the Benjamini-Yekutieli first step for by; the level itself for none.
    """
    cells = max(int(cells), 1)
    if correction == "none":
        return significance
    if correction == "by":
        return significance / (cells * sum(1.0 / i for i in range(1, cells + 1)))
    return significance / cells


def welch_power(n: int, delta: float, sd: float, alpha: float) -> float:
    """Power of the two-sided Welch test at level ``alpha`` with ``n`` runs per arm."""
    df = 2.0 * (n - 1)
    ncp = abs(delta) / (sd * math.sqrt(2.0 / n))
    crit = stats.t.isf(alpha / 2, df)
    return float(stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp))


def tost_power(n: int, delta: float, sd: float, margin: float, alpha: float) -> float:
    """Power of TOST (two one-sided Welch tests at ``alpha``) when the true difference is ``delta``.

    1 - P(lower test fails) - P(upper test fails): a lower bound on the exact power, tight
    once the power is useful (both tests share the standard error, so failures overlap little).
    """
    df = 2.0 * (n - 1)
    se = sd * math.sqrt(2.0 / n)
    crit = stats.t.isf(alpha, df)
    fail_lower = stats.nct.cdf(crit, df, (delta + margin) / se)
    fail_upper = stats.nct.sf(-crit, df, (delta - margin) / se)
    return float(max(0.0, 1.0 - fail_lower - fail_upper))


def _smallest_n(power_at: Callable[[int], float], target: float) -> int | None:
    """Smallest n >= 2 with power_at(n) >= target (power grows with n), None beyond MAX_SEEDS."""
    high = 2
    while power_at(high) < target:
        if high >= MAX_SEEDS:
            return None
        high = min(2 * high, MAX_SEEDS)
    low = high // 2  # power_at(low) < target, or low < 2
    while high - low > 1:
        mid = (low + high) // 2
        if mid >= 2 and power_at(mid) >= target:
            high = mid
        else:
            low = mid
    return max(high, 2)


def seeds_to_detect(sd: float, delta: float, alpha: float, power: float = 0.8) -> int | None:
    """Runs per arm for a two-sided Welch test at ``alpha`` to detect ``delta`` with ``power``.

    None when it cannot be done (delta = 0) or needs more than a million runs.
    """
    if delta == 0:
        return None
    if sd == 0:
        return 2
    return _smallest_n(lambda n: welch_power(n, delta, sd, alpha), power)


def seeds_for_equivalence(sd: float, margin: float, alpha: float, power: float = 0.8,
                          delta: float = 0.0) -> int | None:
    """Runs per arm for TOST at ``alpha`` to show |difference| < ``margin`` when it is ``delta``.

    None when it cannot be done (|delta| >= margin) or needs more than a million runs.
    """
    if abs(delta) >= margin:
        return None
    if sd == 0:
        return 2
    return _smallest_n(lambda n: tost_power(n, delta, sd, margin, alpha), power)


def seeds_to_resolve(sd: float, delta: float, margin: float, alpha: float,
                     power: float = 0.8) -> int | None:
    """Runs per arm to settle a difference of ``delta`` either way: detect it or show equivalence."""
    options = [seeds_to_detect(sd, delta, alpha, power),
               seeds_for_equivalence(sd, margin, alpha, power, delta)]
    options = [n for n in options if n is not None]
    return min(options) if options else None



def check_design(sd: float, delta: float, cells: int) -> None:
    """What every plan (fixed or sequential) needs: an SD and a difference to detect, both
    positive (a difference's sign does not change the seeds it needs; -1 is a typo, not 1), and
    at least one cell."""
    positive("--sd", sd)
    positive("--delta", delta)
    positive_int("--cells", cells)


def plan(sd: float, delta: float, cells: int = 25, correction: str = "holm", power: float = 0.8,
         margin: float | None = None, significance: float = 0.05) -> dict:
    """Seeds per arm for a sweep of ``cells`` comparisons against the baseline (``spe plan``).

    ``seeds_to_detect``: two-sided Welch test of a true difference ``delta``;
    ``seeds_for_equivalence`` (with ``margin``): TOST when the true difference is 0.
    None means more than MAX_SEEDS.
    """
    choose("correction", correction, CORRECTIONS)
    check_design(sd, delta, cells)
    fraction("--power", power)
    fraction("--significance", significance)
    if margin is not None:
        positive("--margin", margin)
    alpha = comparison_alpha(significance, cells, correction)
    return {"sd": sd, "delta": delta, "cells": int(cells), "correction": correction,
            "significance": significance, "comparison_alpha": alpha, "power": power,
            "margin": margin, "seeds_to_detect": seeds_to_detect(sd, delta, alpha, power),
            "seeds_for_equivalence": None if margin is None
            else seeds_for_equivalence(sd, margin, alpha, power)}
