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

The pooled mu has weights ``1 / (v_i + tau^2)``.  Its standard error is
``sqrt(f / sum w)`` with the Knapp-Hartung factor ``f`` of :func:`knapp_hartung_factor`:

- ``hksj-floor`` (the default): ``f = max(1, q)``, ``q = sum w (y - mu)^2 / (k - 1)``, the
  modified Knapp-Hartung method (metafor's ``test="adhoc"``), with a t distribution on k - 1
  degrees of freedom, on *t-based* within-setting variances (:func:`within_variance`).
  Each setting's variance comes from a few seeds per arm, yet the model takes it as known;
  plain HKSJ then rejects a true null 6.6% of the time with 5 settings of 5 seeds (and its
  standard error collapses when a few settings agree by chance).  The floor never lets the
  spread of the estimates claim more precision than the settings' own variances, and the
  t-based variances carry their few degrees of freedom: by simulation the pair holds 5% at
  3 and 5 settings with 3 to 10 seeds per arm (docs/meta.md, benchmarks/meta_error_rates.py).
- ``hksj`` (Hartung-Knapp-Sidik-Jonkman, untruncated): ``f = q``, t on k - 1 degrees of
  freedom, plain variances (metafor's ``test="knha"``).
- ``normal``: ``f = 1`` with the normal distribution, plain variances.

The CI, the two-sided p and the equivalence test (TOST) all use that standard error and
distribution.

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
from scipy import optimize, special

from .hypothesis import degenerate_p

METHODS_RE = ("pm", "dl")
from ..names import CI_METHODS, DEFAULT_CI
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


# The normal (df None) or t distribution through scipy.special: a frozen scipy.stats
# distribution costs a millisecond per pooled cell, which the error-rate simulation repeats.
def _cdf(x: float, df: int | None) -> float:
    return float(special.ndtr(x) if df is None else special.stdtr(df, x))


def _ppf(p: float, df: int | None) -> float:
    return float(special.ndtri(p) if df is None else special.stdtrit(df, p))


def _tail_p(z: float, se: float, df: int | None, alternative: str) -> float:
    """p of the statistic z / se (``alternative`` as in scipy); zero-spread limit when se == 0."""
    if se == 0:
        return degenerate_p(z, alternative)
    t = z / se
    if alternative == "two-sided":
        return 2 * _cdf(-abs(t), df)
    return _cdf(-t, df) if alternative == "greater" else _cdf(t, df)


def within_variance(sd_cell: float, n_cell: int, sd_base: float, n_base: int,
                    ci: str = DEFAULT_CI) -> float:
    """The variance of one setting's delta = mean(cell) - mean(avg) that ``ci`` pools.

    Plain (``hksj``, ``normal``): ``sd_cell^2 / n_cell + sd_base^2 / n_base`` (sample SDs).
    t-based (``hksj-floor``): that times ``(t_{0.975, df} / z_{0.975})^2`` with Welch's df, so
    that the normal interval of the setting alone is its Welch t-interval: an SD estimated
    from 3 seeds is not a known variance.  Zero spread in both arms gives 0.
    """
    cell, base = sd_cell ** 2 / n_cell, sd_base ** 2 / n_base
    variance = cell + base
    if ci != "hksj-floor" or variance == 0:
        return variance
    df = variance ** 2 / (cell ** 2 / (n_cell - 1) + base ** 2 / (n_base - 1))
    return variance * (_ppf(0.5 + LEVEL / 2, df) / _ppf(0.5 + LEVEL / 2, None)) ** 2


def knapp_hartung_factor(residuals, weights, df: int, ci: str = DEFAULT_CI) -> float:
    """The factor f on the model-based variance (``1 / sum w`` for a mean, ``(X' W X)^-1`` for a
    meta-regression) that ``ci`` uses: ``q = sum w e^2 / df`` (``hksj``), ``max(1, q)``
    (``hksj-floor``, metafor's ``test="adhoc"``) or 1 (``normal``).

    ``residuals`` are y minus the fitted values, ``weights`` ``1 / (v + tau^2)``, ``df`` k minus
    the number of coefficients.  The interval and tests then use t on ``df`` degrees of freedom,
    except for ``normal`` (the normal distribution).
    """
    if ci == "normal":
        return 1.0
    q = float((np.asarray(weights, float) * np.asarray(residuals, float) ** 2).sum()) / df
    return max(1.0, q) if ci == "hksj-floor" else q


def pool(y, v, method_re: str = "pm", ci: str = DEFAULT_CI, margin: float = 0.5) -> Pooled:
    """The random-effects synthesis of estimates ``y`` with variances ``v`` (see the module;
    ``v`` as :func:`within_variance` gives it for the same ``ci``)."""
    y, v = _arrays(y, v)
    k = len(y)
    if k < 2:
        return Pooled(k=k)
    tau2 = TAU2[method_re](y, v)
    w = 1.0 / (v + tau2)
    mu = float((w * y).sum() / w.sum())
    se = math.sqrt(knapp_hartung_factor(y - mu, w, k - 1, ci) / float(w.sum()))
    df = None if ci == "normal" else k - 1
    half = _ppf(0.5 + LEVEL / 2, df) * se
    q = q_statistic(y, v)
    i2 = max(0.0, (q - (k - 1)) / q) if q > 0 else 0.0
    pi_low = pi_high = None
    if k >= 3:
        spread = _ppf(0.5 + LEVEL / 2, k - 2) * math.sqrt(tau2 + se ** 2)
        pi_low, pi_high = mu - spread, mu + spread
    tost = max(_tail_p(mu + margin, se, df, "greater"),  # H0: delta <= -margin
               _tail_p(mu - margin, se, df, "less"))     # H0: delta >= +margin
    return Pooled(k=k, delta=mu, se=se, ci_low=mu - half, ci_high=mu + half,
                  p=_tail_p(mu, se, df, "two-sided"), tost_p=tost, tau2=tau2, i2=i2, q=q,
                  q_p=float(special.chdtrc(k - 1, q)), pi_low=pi_low, pi_high=pi_high)
