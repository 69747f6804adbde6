"""Do runs that share a seed agree across cells?  Decides whether ``--test paired`` pays.

For each cell, over the seeds it shares with the baseline: the Pearson correlation r and
the variance ratio var(cell - baseline) / (var(cell) + var(baseline)), which is 1 - r for
equal spreads.  A ratio well below 1 means pairing removes seed noise; near 1 (the common
case for short runs: Jordan, arXiv 2304.01910) the paired test only loses degrees of freedom.
"""
from __future__ import annotations

from statistics import median
from typing import Any, Mapping, Sequence

import numpy as np
from scipy import stats

from .cells import BASELINE, Cell, grid_order, load_samples

PAIRING_HELPS = 0.8  # variance ratio below which the paired test is worth its lost degrees of freedom


def pairing(a, b) -> tuple[float | None, float | None]:
    """(r, variance ratio) of two samples aligned by seed; None where undefined."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size < 2:
        return None, None
    spread = a.var(ddof=1) + b.var(ddof=1)
    ratio = float(np.var(a - b, ddof=1) / spread) if spread > 0 else None
    r = float(stats.pearsonr(a, b).statistic) if a.size >= 3 and np.ptp(a) and np.ptp(b) else None
    return r, ratio


def seed_pairing(baseline: Mapping[int, float], cells: Mapping[Cell, Mapping[int, float]]
                 ) -> dict[str, Any]:
    """Per cell r and variance ratio against the baseline, their medians, and a verdict in words."""
    rows = []
    for cell in grid_order(cells):
        if cell == BASELINE:
            continue
        seeds = sorted(set(cells[cell]) & set(baseline))
        r, ratio = pairing([cells[cell][s] for s in seeds], [baseline[s] for s in seeds])
        rows.append({"pool": cell[0], "alpha": cell[1], "beta": cell[2], "n_pairs": len(seeds),
                     "r": r, "variance_ratio": ratio})
    rs = [row["r"] for row in rows if row["r"] is not None]
    ratios = [row["variance_ratio"] for row in rows if row["variance_ratio"] is not None]
    median_r = median(rs) if rs else None
    median_ratio = median(ratios) if ratios else None
    if median_ratio is None:
        statement = "Too few seeds shared with the baseline to measure pairing (3 are needed)."
    else:
        helps = median_ratio < PAIRING_HELPS
        r_text = "" if median_r is None else f"median r = {median_r:.2f} over {len(rs)} cells; "
        statement = (f"Runs sharing a seed: {r_text}pairing by seed scales the variance of a "
                     f"difference by {median_ratio:.2f} (median over cells). "
                     + ("The paired test helps here (--test paired)." if helps else
                        "The paired test buys little here; the Welch test is the better choice."))
    return {"cells": rows, "median_r": median_r, "median_variance_ratio": median_ratio,
            "pairing_helps": None if median_ratio is None else bool(median_ratio < PAIRING_HELPS),
            "statement": statement}


def seed_correlation(records: Sequence[Mapping[str, Any]], metric: str = "final_test_acc"
                     ) -> dict[str, Any]:
    """:func:`seed_pairing` of one sweep's run records (same checks as ``analyze``)."""
    baseline, cells, _ = load_samples(records, metric)
    return {"metric": metric, **seed_pairing(baseline, cells)}
