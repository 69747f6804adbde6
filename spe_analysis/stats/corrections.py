"""Multiple-comparison corrections over the cells of one sweep: p-values in, adjusted out.

holm is the step-down of Holm (1979), a few lines; bh and by come from
scipy.stats.false_discovery_control; dunnett is scipy's many-to-one test, which needs the
samples themselves rather than p-values (its pooled-variance t statistics replace the raw
test's for the adjusted value only).  Dunnett pools the variance of every cell: it assumes
equal spreads, and where spreads differ a lot holm is the safer choice.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import stats

from ..names import CORRECTIONS  # noqa: F401  (the registry, re-exported where it is used)
from .hypothesis import SEED, constant, degenerate_p, exact_constants



def holm(p) -> np.ndarray:
    """Holm's step-down adjusted p-values: sorted p_(i) times (m - i), made monotone, capped at 1."""
    p = np.asarray(p, float)
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate((len(p) - np.arange(len(p))) * p[order])
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


def adjust(p, method: str) -> np.ndarray:
    """Adjust p-values by holm, bh, by or none (dunnett needs the samples: see :func:`dunnett`)."""
    p = np.asarray(p, float)
    if p.size == 0 or method == "none":
        return p
    if method == "holm":
        return holm(p)
    if method in ("bh", "by"):
        return stats.false_discovery_control(p, method=method)
    raise ValueError(f"adjust() has no method {method!r}")


def dunnett(cells: Sequence, control, alternative: str = "two-sided", shift: float = 0.0) -> np.ndarray:
    """Dunnett many-to-one adjusted p-values of mean(cell) - mean(control) against ``shift``.

    With ``shift`` and a one-sided ``alternative`` it gives the simultaneous one-sided tests that
    make up a Dunnett-corrected TOST.  When every sample is constant the pooled variance is zero
    and the zero-variance limit of :func:`~spe_analysis.stats.hypothesis.degenerate_p` applies.
    """
    cells = [np.asarray(c, float) - shift for c in cells]
    control = np.asarray(control, float)
    if not cells:
        return np.empty(0)
    if constant(control, *cells):
        return np.array([degenerate_p(c.mean() - control.mean(), alternative) for c in cells])
    with exact_constants():
        result = stats.dunnett(*cells, control=control, alternative=alternative,
                               rng=np.random.default_rng(SEED))
    return np.asarray(result.pvalue, float)
