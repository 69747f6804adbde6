"""Random-effects meta-analysis of one effect across settings: arrays in, numbers out.

``y`` holds one estimate per setting (delta in accuracy points), ``v`` its variance.  The
between-setting variance tau^2 is estimated as its authors define it, never below zero:

- ``pm``: Paule and Mandel (1982), the tau^2 at which the generalised Q statistic
  ``sum w_i (y_i - mu_w)^2`` with ``w_i = 1 / (v_i + tau^2)`` equals its expectation
  k - 1; 0 when Q(0) <= k - 1 already.  Found with scipy's brentq (Q falls with tau^2).
- ``dl``: DerSimonian and Laird (1986), ``max(0, (Q - (k - 1)) / (S1 - S2 / S1))`` with the
  fixed-effect weights ``1 / v_i`` and ``S_r = sum w_i^r``.

statsmodels' ``combine_effects`` is not used: in our regime (few settings) it returns a
negative DL tau^2 when Q < k - 1 and its PM iteration can stop at 0 for heterogeneous data.

The pooled mu has weights ``1 / (v_i + tau^2)``.  Its standard error is, for ``hksj``
(Hartung-Knapp-Sidik-Jonkman, untruncated), ``sqrt(sum w (y - mu)^2 / ((k - 1) sum w))``
with a t distribution on k - 1 degrees of freedom; for ``normal``, ``sqrt(1 / sum w)`` with
the normal distribution.  The CI, the two-sided p and the equivalence test (TOST) all use
that standard error and distribution.

Zero variances (a setting whose cell and baseline runs all scored exactly alike) are raised
to ``ZERO_VARIANCE`` points^2 before pooling: the result is the limit as the variance goes to
0 (such a setting dominates while tau^2 is 0), and nothing divides by zero.  A pooled
standard error of exactly 0 (the untruncated HKSJ one when every estimate is the same) gives
a point CI and the zero-spread p-values of :func:`~spe_analysis.stats.hypothesis.degenerate_p`.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import optimize, stats

from .hypothesis import degenerate_p

METHODS_RE = ("pm", "dl")
CI_METHODS = ("hksj", "normal")
LEVEL = 0.95
ZERO_VARIANCE = 1e-10  # points^2 (an SD of 1e-5 points), far below a test set's resolution


@dataclass(frozen=True)
class Pooled:
    """One random-effects synthesis; None where it cannot be computed (k < 2, or PI with k < 3)."""

    k: int
    delta: float | None = None
    se: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p: float | None = None
    tost_p: float | None = None
    tau2: float | None = None
    i2: float | None = None
    q: float | None = None
    q_p: float | None = None
    pi_low: float | None = None
    pi_high: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _arrays(y, v) -> tuple[np.ndarray, np.ndarray]:
    y, v = np.asarray(y, float), np.asarray(v, float)
    if y.shape != v.shape or y.ndim != 1:
        raise ValueError("y and v must be 1-D arrays of the same length")
    if not (np.isfinite(y).all() and np.isfinite(v).all() and (v >= 0).all()):
        raise ValueError("y must be finite and v finite and non-negative")
    return y, np.maximum(v, ZERO_VARIANCE)


def weighted_mean(y, v, tau2: float = 0.0) -> float:
    w = 1.0 / (np.asarray(v, float) + tau2)
    return float((w * y).sum() / w.sum())


def q_statistic(y, v, tau2: float = 0.0) -> float:
    """Generalised Cochran's Q: sum of w (y - mu_w)^2 with w = 1 / (v + tau2); Cochran's at 0."""
    y, v = np.asarray(y, float), np.asarray(v, float)
    w = 1.0 / (v + tau2)
    return float((w * (y - weighted_mean(y, v, tau2)) ** 2).sum())


def tau2_dl(y, v) -> float:
    """DerSimonian-Laird tau^2, truncated at 0."""
    y, v = _arrays(y, v)
    w = 1.0 / v
    c = float(w.sum() - (w ** 2).sum() / w.sum())
    return max(0.0, (q_statistic(y, v) - (len(y) - 1)) / c) if c > 0 else 0.0


def tau2_pm(y, v) -> float:
    """Paule-Mandel tau^2: the root of Q(tau^2) = k - 1, or 0 when Q(0) <= k - 1."""
    y, v = _arrays(y, v)
    df = len(y) - 1
    if df < 1 or q_statistic(y, v) <= df:
        return 0.0
    # Q(t) <= sum (y - mean y)^2 / t, so at this bound Q is at most df / 2: the root lies below.
    upper = 2.0 * float(((y - y.mean()) ** 2).sum()) / df
    return float(optimize.brentq(lambda t: q_statistic(y, v, t) - df, 0.0, upper,
                                 xtol=1e-14, rtol=1e-12, maxiter=500))


TAU2 = {"pm": tau2_pm, "dl": tau2_dl}


def _tail_p(z: float, se: float, dist, alternative: str) -> float:
    """p of the statistic z / se (``alternative`` as in scipy); zero-spread limit when se == 0."""
    if se == 0:
        return degenerate_p(z, alternative)
    t = z / se
    if alternative == "two-sided":
        return float(2 * dist.sf(abs(t)))
    return float(dist.sf(t) if alternative == "greater" else dist.cdf(t))


def pool(y, v, method_re: str = "pm", ci: str = "hksj", margin: float = 0.5) -> Pooled:
    """The random-effects synthesis of estimates ``y`` with variances ``v`` (see the module)."""
    y, v = _arrays(y, v)
    k = len(y)
    if k < 2:
        return Pooled(k=k)
    tau2 = TAU2[method_re](y, v)
    w = 1.0 / (v + tau2)
    mu = float((w * y).sum() / w.sum())
    if ci == "hksj":
        se = math.sqrt(float((w * (y - mu) ** 2).sum()) / ((k - 1) * float(w.sum())))
        dist = stats.t(k - 1)
    else:
        se = math.sqrt(1.0 / float(w.sum()))
        dist = stats.norm()
    half = float(dist.ppf(0.5 + LEVEL / 2)) * se
    q = q_statistic(y, v)
    i2 = max(0.0, (q - (k - 1)) / q) if q > 0 else 0.0
    pi_low = pi_high = None
    if k >= 3:
        spread = float(stats.t.ppf(0.5 + LEVEL / 2, k - 2)) * math.sqrt(tau2 + se ** 2)
        pi_low, pi_high = mu - spread, mu + spread
    tost = max(_tail_p(mu + margin, se, dist, "greater"),  # H0: delta <= -margin
               _tail_p(mu - margin, se, dist, "less"))     # H0: delta >= +margin
    return Pooled(k=k, delta=mu, se=se, ci_low=mu - half, ci_high=mu + half,
                  p=_tail_p(mu, se, dist, "two-sided"), tost_p=tost, tau2=tau2, i2=i2, q=q,
                  q_p=float(stats.chi2.sf(q, k - 1)), pi_low=pi_low, pi_high=pi_high)
