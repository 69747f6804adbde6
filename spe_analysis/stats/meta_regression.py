"""Random-effects meta-regression of one effect on moderators: arrays in, numbers out.

The mixed-effects model ``y_i = x_i' b + u_i + e_i`` with ``u_i ~ N(0, tau^2)`` (what the
moderators leave unexplained between settings) and ``e_i ~ N(0, v_i)`` (within a setting),
for ``k`` estimates ``y`` with variances ``v`` and a k x p design ``X`` whose first column is
the intercept.  It is metafor's ``rma(yi, vi, mods = ~ x, method = "PM" | "DL", test = ...)``:

- Residual tau^2 by the pooled model's estimators (:mod:`.meta`) generalised to a design:
  ``pm`` the root of ``RSS(t) = k - p``, where ``RSS(t) = sum w (y - X b_w)^2`` is the
  weighted residual sum of squares of the weighted least-squares fit with ``w = 1 / (v + t)``
  (0 when ``RSS(0) <= k - p``); ``dl`` ``max(0, (QE - (k - p)) / tr P)`` with the fixed-effect
  weights ``W = diag(1 / v)``, ``QE = RSS(0)`` and ``P = W - W X (X' W X)^-1 X' W``.  With the
  intercept alone both are the pooled model's tau^2.
- Coefficients ``b = (X' W X)^-1 X' W y`` with ``W = diag(1 / (v + tau^2))``; covariance
  ``f (X' W X)^-1`` with the pooled model's Knapp-Hartung factor ``f``
  (:func:`~spe_analysis.stats.meta.knapp_hartung_factor`, the same ``ci`` as ``spe meta --ci``):
  ``hksj-floor`` (the default) ``max(1, RSS / (k - p))`` (metafor ``test = "adhoc"``), ``hksj``
  ``RSS / (k - p)`` (``test = "knha"``), both with t on k - p degrees of freedom; ``normal``
  1 with the normal distribution (``test = "z"``).
- The omnibus test of the moderators (every coefficient but the intercept, m of them):
  ``QM = b' V^-1 b``, over m as an F(m, k - p) statistic under the t methods, chi^2(m) under
  ``normal``.  ``QE`` tests the heterogeneity left, chi^2(k - p).
- Residual ``I^2 = max(0, (QE - (k - p)) / QE)``, the pooled model's I^2 with k - p for k - 1
  (metafor's for ``dl``); ``R^2 = max(0, (tau^2_RE - tau^2) / tau^2_RE)``, the share of the
  pooled model's tau^2 (same estimator, no moderators) that the moderators explain, 0 when
  tau^2_RE is 0 (metafor's R^2, a fraction here).

``v`` are the variances the pooled model pools for the same ``ci``
(:func:`~spe_analysis.stats.meta.within_variance`: t-based under ``hksj-floor``), so metafor
reproduces a fit given the same ``vi``.  Zero variances are raised to ``ZERO_VARIANCE`` as in
the pooled model.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
from scipy import optimize, special

from .hypothesis import degenerate_p
from .meta import DEFAULT_CI, LEVEL, TAU2, _arrays, knapp_hartung_factor

__all__ = ["Fit", "Coefficient", "Prediction", "fit", "predict"]


@dataclass(frozen=True)
class Coefficient:
    name: str
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    p: float


@dataclass(frozen=True)
class Prediction:
    """The fitted effect at one point of the moderators, with its confidence interval."""

    delta: float
    se: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class Fit:
    """One meta-regression; ``df`` and ``qm_df2`` are None under ``normal``."""

    k: int
    p: int
    df: int | None
    coefficients: tuple[Coefficient, ...]
    vcov: tuple[tuple[float, ...], ...]
    tau2: float
    i2: float
    qe: float
    qe_p: float
    qm: float | None  # None when the covariance of the moderators is singular (a perfect fit)
    qm_df1: int
    qm_df2: int | None
    qm_p: float | None
    tau2_re: float
    r2: float

    def to_dict(self) -> dict:
        return asdict(self)


def _wls(y: np.ndarray, w: np.ndarray, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted least squares on an orthonormal design ``Z``: coefficients, (Z' W Z)^-1 and
    residuals (the normal equations are well conditioned there; see :func:`fit`)."""
    inverse = np.linalg.inv((Z.T * w) @ Z)
    b = inverse @ (Z.T @ (w * y))
    return b, inverse, y - Z @ b


def _rss(y, v, Z, tau2: float) -> float:
    w = 1.0 / (v + tau2)
    return float((w * _wls(y, w, Z)[2] ** 2).sum())


def tau2_pm(y, v, Z) -> float:
    """Paule-Mandel residual tau^2: the root of RSS(t) = k - p, or 0 when RSS(0) <= k - p."""
    df = len(y) - Z.shape[1]
    if _rss(y, v, Z, 0.0) <= df:
        return 0.0
    # RSS(t) is the minimum over b of sum (y - Z b)^2 / (v + t) <= SSE_ols / t: at this bound
    # it is at most df / 2, so the root lies below.
    sse = float((_wls(y, np.ones(len(y)), Z)[2] ** 2).sum())
    return float(optimize.brentq(lambda t: _rss(y, v, Z, t) - df, 0.0, 2.0 * sse / df,
                                 xtol=1e-14, rtol=1e-12, maxiter=500))


def tau2_dl(y, v, Z) -> float:
    """DerSimonian-Laird residual tau^2 (the method of moments on QE), truncated at 0."""
    w = 1.0 / v
    _, inverse, residuals = _wls(y, w, Z)
    trace = float(w.sum() - np.trace(inverse @ (Z.T * w ** 2) @ Z))
    qe = float((w * residuals ** 2).sum())
    return max(0.0, (qe - (len(y) - Z.shape[1])) / trace) if trace > 0 else 0.0


TAU2_DESIGN = {"pm": tau2_pm, "dl": tau2_dl}


def _critical(df: int | None) -> float:
    """The two-sided critical value at LEVEL: t on ``df`` degrees of freedom, normal for None."""
    q = 0.5 + LEVEL / 2
    return float(special.ndtri(q) if df is None else special.stdtrit(df, q))


def _two_sided_p(estimate: float, se: float, df: int | None) -> float:
    """p of estimate / se against t(df) (normal for None); the zero-spread limit when se is 0."""
    if se == 0:
        return degenerate_p(estimate)
    t = -abs(estimate) / se
    return float(2 * (special.ndtr(t) if df is None else special.stdtr(df, t)))


def fit(y, v, X, names, method_re: str = "pm", ci: str = DEFAULT_CI) -> Fit:
    """The meta-regression of ``y`` (variances ``v``) on the design ``X`` (first column the
    intercept), coefficients named ``names`` (see the module).

    The model is fitted on ``Z`` of ``X = Z R`` (QR): every fitted value, residual and tau^2
    is the same for Z, and Z's orthonormal columns keep the normal equations well conditioned
    whatever the moderators' scale (accuracies near 90, train_subset in tens of thousands);
    ``b = R^-1 b_Z`` and its covariance ``R^-1 V_Z R^-T`` bring them back.  ValueError unless
    X is k x p of full column rank p with k > p.
    """
    y, v = _arrays(y, v)
    X = np.asarray(X, float)
    k = len(y)
    if X.ndim != 2 or X.shape[0] != k:
        raise ValueError("X must have one row per estimate")
    p = X.shape[1]
    if len(names) != p:
        raise ValueError("one name per column of X")
    if k <= p:
        raise ValueError(f"{k} estimates for {p} coefficients: need at least {p + 1}")
    if np.linalg.matrix_rank(X) < p:
        raise ValueError("the design is not of full rank (a moderator does not vary "
                         "among these estimates, or two are confounded)")
    Z, R = np.linalg.qr(X)
    back = np.linalg.inv(R)
    tau2 = TAU2_DESIGN[method_re](y, v, Z)
    w = 1.0 / (v + tau2)
    b_z, inverse, residuals = _wls(y, w, Z)
    df = k - p
    b = back @ b_z
    vcov = knapp_hartung_factor(residuals, w, df, ci) * (back @ inverse @ back.T)
    dist_df = None if ci == "normal" else df
    crit = _critical(dist_df)
    coefficients = []
    for name, estimate, variance in zip(names, b, np.diag(vcov)):
        estimate, se = float(estimate), math.sqrt(max(0.0, float(variance)))
        coefficients.append(Coefficient(name, estimate, se, estimate - crit * se,
                                        estimate + crit * se, _two_sided_p(estimate, se, dist_df)))
    m = p - 1
    moderators = vcov[1:, 1:]
    qm = qm_p = None
    if m and np.linalg.matrix_rank(moderators) == m:
        qm = float(b[1:] @ np.linalg.solve(moderators, b[1:]))
        if ci == "normal":
            qm_p = float(special.chdtrc(m, qm))
        else:
            qm /= m
            qm_p = float(special.fdtrc(m, df, qm))
    fixed = 1.0 / v
    qe = float((fixed * _wls(y, fixed, Z)[2] ** 2).sum())
    tau2_re = TAU2[method_re](y, v)
    return Fit(k=k, p=p, df=dist_df, coefficients=tuple(coefficients),
               vcov=tuple(tuple(float(x) for x in row) for row in vcov), tau2=tau2,
               i2=max(0.0, (qe - df) / qe) if qe > 0 else 0.0, qe=qe,
               qe_p=float(special.chdtrc(df, qe)), qm=qm, qm_df1=m, qm_df2=dist_df, qm_p=qm_p,
               tau2_re=tau2_re, r2=max(0.0, (tau2_re - tau2) / tau2_re) if tau2_re > 0 else 0.0)


def predict(estimates: Sequence[float], vcov, df: int | None, x) -> Prediction:
    """The fitted effect ``x' b`` at the design row ``x`` (intercept first) of coefficients
    ``estimates`` with covariance ``vcov``, and its 95% CI (t on ``df`` degrees of freedom,
    normal for None): a Fit's numbers, or those of a ``regression`` cell of spe.meta/1."""
    x = np.asarray(x, float)
    delta = float(x @ np.asarray(estimates, float))
    se = math.sqrt(max(0.0, float(x @ np.asarray(vcov, float) @ x)))
    half = _critical(df) * se
    return Prediction(delta, se, delta - half, delta + half)
