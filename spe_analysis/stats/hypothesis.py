"""Two-sample p-values of a cell against the baseline: arrays in, one number out.

Every test here is a thin wrapper around scipy.stats.  The one thing added is the
zero-variance limit: when both samples are constant the t statistic is taken as +inf,
-inf or 0 (the sign of the difference), so a two-sided p-value is 0 when the means differ
and 1 when they are equal, and a one-sided one is 0, 1 or 0.5.  That is the limit of the
test as the spread shrinks to nothing, and it keeps NaN out of every output.
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager

import numpy as np
from scipy import stats

from ..names import TESTS  # noqa: F401  (the registry, re-exported where it is used)

SEED = 20230  # one fixed generator seed for every resampling method (permutation, bootstrap, Dunnett)
PERMUTATIONS = 9999  # scipy runs the exact test when there are no more distinct permutations than this


@contextmanager
def exact_constants():
    """Silence scipy's precision-loss warning for a sample that is exactly constant.

    Accuracies on a fixed test set often repeat exactly; scipy's result is right then.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Precision loss occurred", RuntimeWarning)
        yield


def constant(*samples) -> bool:
    """True when every sample has zero spread (all its values identical)."""
    return all(np.ptp(np.asarray(s, float)) == 0 for s in samples)


def degenerate_p(diff: float, alternative: str = "two-sided") -> float:
    """p-value of a t test whose standard error is zero: the limit t = sign(diff) * inf."""
    if alternative == "two-sided":
        return 1.0 if diff == 0 else 0.0
    if diff == 0:
        return 0.5
    return 0.0 if (diff > 0) == (alternative == "greater") else 1.0


def welch(a, b, alternative: str = "two-sided", shift: float = 0.0) -> float:
    """Welch's t test of mean(a) - mean(b) against ``shift`` (scipy ttest_ind, equal_var=False)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if constant(a, b):
        return degenerate_p(a.mean() - b.mean() - shift, alternative)
    with exact_constants():
        return float(stats.ttest_ind(a - shift, b, equal_var=False, alternative=alternative).pvalue)


def paired(a, b) -> float:
    """Paired t test (scipy ttest_rel) on samples already aligned by seed."""
    diff = np.asarray(a, float) - np.asarray(b, float)
    if constant(diff):
        return degenerate_p(diff.mean())
    return float(stats.ttest_rel(a, b).pvalue)


def mannwhitney(a, b) -> float:
    """Two-sided Mann-Whitney U test (scipy picks the exact distribution when it can)."""
    return float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)


def _mean_difference(a, b, axis=-1):
    return np.mean(a, axis=axis) - np.mean(b, axis=axis)


def permutation(a, b) -> float:
    """Two-sided permutation test of the mean difference; exact when C(n1 + n2, n1) <= 9999."""
    result = stats.permutation_test((np.asarray(a, float), np.asarray(b, float)), _mean_difference,
                                    vectorized=True, n_resamples=PERMUTATIONS,
                                    rng=np.random.default_rng(SEED))
    return float(result.pvalue)


def tost(a, b, margin: float) -> float:
    """Equivalence p-value for |mean(a) - mean(b)| < margin: the larger of two one-sided Welch tests."""
    lower = welch(a, b, alternative="greater", shift=-margin)  # H0: difference <= -margin
    upper = welch(a, b, alternative="less", shift=margin)      # H0: difference >= +margin
    return max(lower, upper)


def p_value(test: str, a, b) -> float:
    """The p-value of ``test`` for cell ``a`` against baseline ``b`` (aligned by seed for 'paired')."""
    return {"welch": welch, "paired": paired, "mannwhitney": mannwhitney,
            "permutation": permutation}[test](a, b)
