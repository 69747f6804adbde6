"""Effect sizes and summaries of a cell against the baseline: arrays in, numbers out."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import stats


def mean_sd(x) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (ddof 1); None where undefined (no runs, one run)."""
    x = np.asarray(x, float)
    mean = float(x.mean()) if x.size else None
    sd = float(x.std(ddof=1)) if x.size > 1 else None
    return mean, sd


def pooled_sd(samples: Sequence) -> float | None:
    """Pooled within-sample standard deviation over every sample with at least two values."""
    samples = [np.asarray(s, float) for s in samples if len(s) > 1]
    dof = sum(len(s) - 1 for s in samples)
    if dof == 0:
        return None
    return float(np.sqrt(sum(((s - s.mean()) ** 2).sum() for s in samples) / dof))


def hedges_g(a, b) -> float | None:
    """Hedges' g of a over b: Cohen's d on the pooled SD times 1 - 3 / (4 (n1 + n2) - 9).

    The small-sample factor is the usual approximation (as statsmodels' effectsize_smd).
    None when the pooled SD is zero: a standardised difference does not exist then.
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    sd = pooled_sd([a, b])
    if not sd:
        return None
    return float((a.mean() - b.mean()) / sd * (1 - 3 / (4 * (a.size + b.size) - 9)))


def prob_superiority(a, b) -> float:
    """P(a run of a beats a run of b), ties counted half: Mann-Whitney U / (n1 * n2)."""
    u = stats.mannwhitneyu(a, b, alternative="two-sided").statistic
    return float(u / (len(a) * len(b)))
