"""Error rates of the pooled tests by simulation: sweeps of normal runs in, rejection rates out.

Each simulated meta-analysis has ``k`` settings; in each, ``seeds`` runs of the cell and as
many of avg, normal with SD ``sd``, the cell's true difference to avg being ``delta`` plus a
between-setting effect N(0, tau^2).  Every setting is summarised as ``spe meta`` does it
(mean difference, :func:`~spe_analysis.stats.meta.within_variance`) and pooled by
:func:`~spe_analysis.stats.meta.pool`, so the simulation runs the code that ``spe meta`` runs.
``benchmarks/meta_error_rates.py`` prints the table of docs/meta.md; the tests run a few cells.
"""
from __future__ import annotations

import numpy as np

from .meta import DEFAULT_CI, pool, within_variance


def pooled_p_values(k: int, seeds: int, reps: int, *, delta: float = 0.0, sd: float = 1.0,
                    tau: float = 0.0, ci: str = DEFAULT_CI, method_re: str = "pm",
                    margin: float = 0.5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(two-sided p, TOST p) of ``reps`` simulated meta-analyses (see the module)."""
    rng = np.random.default_rng(seed)
    effects = delta + tau * rng.standard_normal((reps, k))
    base = rng.normal(0.0, sd, (reps, k, seeds))
    cell = rng.normal(0.0, sd, (reps, k, seeds)) + effects[..., None]
    y = cell.mean(axis=-1) - base.mean(axis=-1)
    sd_cell, sd_base = cell.std(axis=-1, ddof=1), base.std(axis=-1, ddof=1)
    p, tost = np.empty(reps), np.empty(reps)
    for r in range(reps):
        v = [within_variance(sd_cell[r, i], seeds, sd_base[r, i], seeds, ci) for i in range(k)]
        pooled = pool(y[r], v, method_re, ci, margin)
        p[r], tost[r] = pooled.p, pooled.tost_p
    return p, tost


def error_rates(k: int, seeds: int, reps: int, *, sd_equivalence: float = 0.5, margin: float = 0.5,
                alpha: float = 0.05, seed: int = 0, **options) -> dict[str, float]:
    """Rejection of a true null (delta 0, any SD: the test is scale-free) and false equivalence
    (every true delta at +margin, runs with SD ``sd_equivalence``), each over ``reps``
    meta-analyses, with the Monte Carlo SE of a rate of ``alpha``."""
    p, _ = pooled_p_values(k, seeds, reps, margin=margin, seed=seed, **options)
    _, tost = pooled_p_values(k, seeds, reps, delta=margin, sd=sd_equivalence, margin=margin,
                              seed=seed + 1, **options)
    return {"k": k, "seeds": seeds, "reps": reps, "difference": float(np.mean(p < alpha)),
            "false_equivalence": float(np.mean(tost < alpha)),
            "mc_se": float(np.sqrt(alpha * (1 - alpha) / reps))}
