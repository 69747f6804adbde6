"""Confidence interval of delta = mean(cell) - mean(baseline): arrays in, (low, high, method) out.

Bootstrap intervals under-cover with few runs per arm: in 300 simulated sweeps each, BCa
covered a true 0.5-point difference 93% / 88% of the time with 10 runs per arm (normal /
left-skewed seed noise) and 94% / 92% with 20, against 94-95% for the Welch t-interval.  So
BCa is used from ``BCA_MIN_N`` runs in each arm, where it covers; below that the Welch
t-interval is used.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

from .hypothesis import SEED, constant, exact_constants

BCA_MIN_N = 30
METHODS = ("bca", "t")


def t_interval(a, b, level: float = 0.95) -> tuple[float, float]:
    """Welch t-interval for mean(a) - mean(b); a point when both samples are constant."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if constant(a, b):
        delta = float(a.mean() - b.mean())
        return delta, delta
    with exact_constants():
        ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(level)
    return float(ci.low), float(ci.high)


def _mean_difference(a, b, axis=-1):
    return np.mean(a, axis=axis) - np.mean(b, axis=axis)


def bca_interval(a, b, level: float = 0.95, resamples: int = 9999) -> tuple[float, float]:
    """BCa bootstrap interval for mean(a) - mean(b), resampling each arm, fixed generator seed."""
    with warnings.catch_warnings():  # a degenerate bootstrap gives NaN, which the caller replaces
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        ci = stats.bootstrap((np.asarray(a, float), np.asarray(b, float)), _mean_difference,
                             vectorized=True, n_resamples=resamples, confidence_level=level,
                             method="BCa", rng=np.random.default_rng(SEED)).confidence_interval
    return float(ci.low), float(ci.high)


def delta_interval(a, b, level: float = 0.95) -> tuple[float, float, str]:
    """The interval for delta and the method that made it: 'bca' or 't' (small n, or no spread)."""
    if min(len(a), len(b)) >= BCA_MIN_N and not constant(a, b):
        low, high = bca_interval(a, b, level)
        if np.isfinite(low) and np.isfinite(high):
            return low, high, "bca"
    return (*t_interval(a, b, level), "t")
