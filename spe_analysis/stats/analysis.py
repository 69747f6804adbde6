"""One sweep in, one verdict per cell and an answer to the claim out (``spe stats``).

:func:`compare` is the functional core (samples in, the CONTRACT.md dictionary out);
:func:`analyze` reads run records into samples first.  Every float in the result is finite or None.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import choose, fraction, positive
from . import corrections, effects, hypothesis, intervals
from .cells import BASELINE, EXCLUSIONS, Cell, grid_order, load_samples
from .verdicts import DIVERGED, claim, count_divergences, verdict

Samples = Mapping[int, float]  # seed -> value


def _finite(value) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def check_options(test: str, correction: str, margin: float, significance: float,
                  diverged: str = "count") -> None:
    choose("test", test, hypothesis.TESTS)
    choose("--diverged", diverged, DIVERGED)
    choose("correction", correction, corrections.CORRECTIONS)
    positive("--margin", margin)
    fraction("--significance", significance)


def _array(samples: Samples, seeds=None) -> np.ndarray:
    return np.array([samples[s] for s in sorted(samples if seeds is None else seeds)], float)


def _cell_row(cell: Cell, values: Samples, baseline: Samples, test: str, margin: float) -> dict:
    a, b = _array(values), _array(baseline)
    mean, sd = effects.mean_sd(a)
    row: dict[str, Any] = {"pool": cell[0], "alpha": cell[1], "beta": cell[2], "n": int(a.size),
                           "mean": mean, "sd": sd,
                           "delta": mean - float(b.mean()) if a.size and b.size else None}
    pairs = sorted(set(values) & set(baseline))
    if test == "paired":
        row["n_pairs"] = len(pairs)
    sufficient = a.size >= 2 and b.size >= 2 and (test != "paired" or len(pairs) >= 2)
    row["sufficient"] = sufficient
    if sufficient:
        row["ci_low"], row["ci_high"], row["ci_method"] = intervals.delta_interval(a, b)
        tested = (_array(values, pairs), _array(baseline, pairs)) if test == "paired" else (a, b)
        row["p_value"] = hypothesis.p_value(test, *tested)
        row["tost_p"] = hypothesis.tost(a, b, margin)
        row["hedges_g"] = effects.hedges_g(a, b)
        row["prob_superiority"] = effects.prob_superiority(a, b)
    return row


def _key(row: Mapping[str, Any]) -> Cell:
    return (row["pool"], row["alpha"], row["beta"])


def _adjust(rows: list[dict], values: Sequence[Samples], baseline: Samples, correction: str,
            margin: float) -> None:
    """Fill p_adjusted and tost_p_adjusted over the tested cells, in place.

    Under dunnett the raw p_value stays that of the chosen test; the adjusted values come
    from scipy's many-to-one test (two-sided, and one-sided on data shifted by the margin).
    """
    tested = [row for row in rows if row["sufficient"]]
    if correction == "dunnett":
        samples = [_array(v) for row, v in zip(rows, values) if row["sufficient"]]
        b = _array(baseline)
        adjusted = corrections.dunnett(samples, b)
        tost = np.maximum(corrections.dunnett(samples, b, "greater", shift=-margin),
                          corrections.dunnett(samples, b, "less", shift=margin))
    else:
        adjusted = corrections.adjust([row["p_value"] for row in tested], correction)
        tost = corrections.adjust([row["tost_p"] for row in tested], correction)
    for row, p, q in zip(tested, adjusted, tost):
        row["p_adjusted"], row["tost_p_adjusted"] = float(p), float(q)


def pooled_spread(baseline: Samples, cells: Mapping[Cell, Samples]) -> float | None:
    """Pooled seed-to-seed SD over the baseline and every cell, each sample counted once."""
    samples = {**cells, BASELINE: baseline}
    return _finite(effects.pooled_sd([_array(v) for v in samples.values()]))


FLOATS = ("mean", "sd", "delta", "ci_low", "ci_high", "p_value", "p_adjusted", "tost_p",
          "tost_p_adjusted", "hedges_g", "prob_superiority")


def _output_row(row: dict, excluded: Mapping[str, int]) -> dict:
    out = {"pool": row["pool"], "alpha": row["alpha"], "beta": row["beta"], "n": row["n"]}
    if "n_pairs" in row:
        out["n_pairs"] = row["n_pairs"]
    for key in FLOATS:
        out[key] = _finite(row.get(key))
    out.update(ci_method=row.get("ci_method"), verdict=row["verdict"],
               n_excluded=sum(excluded.values()), n_diverged=excluded.get("diverged", 0))
    return out


def baseline_row(baseline: Samples, excluded: Mapping[str, int]) -> dict:
    mean, sd = effects.mean_sd(_array(baseline))
    return {"pool": BASELINE[0], "n": len(baseline), "mean": _finite(mean), "sd": _finite(sd),
            "n_excluded": sum(excluded.values()), "n_diverged": excluded.get("diverged", 0)}


def apply_divergences(rows: Sequence[dict], base: Mapping[str, Any], diverged: str) -> None:
    """Cap each row's verdict for diverged runs (see verdicts.count_divergences), in place."""
    if diverged == "count":
        for row in rows:
            row["verdict"] = count_divergences(row["verdict"], row["n_diverged"], base["n_diverged"])


def compare(baseline: Samples, cells: Mapping[Cell, Samples], *, test: str = "welch",
            correction: str = "holm", margin: float = 0.5, significance: float = 0.05,
            excluded: Mapping[Cell, Mapping[str, int]] | None = None, power: float = 0.8,
            unreadable: int = 0, diverged: str = "count") -> dict[str, Any]:
    """Every cell against the baseline: the CONTRACT.md ``spe stats --format json`` dictionary.

    ``baseline`` and each of ``cells`` map seed -> metric value; ``excluded`` counts the runs
    left out per cell and reason (a cell whose runs were all left out still gets a row),
    ``unreadable`` the record files that could not be read (they belong to no cell);
    ``diverged`` 'count' caps the verdicts of cells with diverged runs, 'exclude' does not.
    Cells come out in grid order; a BASELINE entry in ``cells`` is ignored.
    """
    check_options(test, correction, margin, significance, diverged)
    excluded = excluded or {}
    rows = [_cell_row(cell, cells.get(cell, {}), baseline, test, margin)
            for cell in grid_order(set(cells) | set(excluded)) if cell != BASELINE]
    _adjust(rows, [cells.get(_key(row), {}) for row in rows], baseline, correction, margin)
    for row in rows:
        row["verdict"] = verdict(row["sufficient"], row["delta"], row.get("p_adjusted"),
                                 row.get("tost_p_adjusted"), significance)
    base = baseline_row(baseline, excluded.get(BASELINE, {}))
    out_rows = [_output_row(row, excluded.get(_key(row), {})) for row in rows]
    apply_divergences(out_rows, base, diverged)
    totals = {reason: sum(c.get(reason, 0) for c in excluded.values()) for reason in EXCLUSIONS}
    totals["unreadable"] = unreadable
    sd = pooled_spread(baseline, cells)
    return {"test": test, "correction": correction, "margin": margin, "significance": significance,
            "ci_level": 0.95, "diverged": diverged, "baseline": base, "cells": out_rows,
            "claim": claim(base, out_rows, test=test, correction=correction, margin=margin,
                           significance=significance, sd=sd, power=power, excluded=totals,
                           diverged=diverged),
            "excluded": totals, "pooled_sd": sd}


def analyze(records: Sequence[Mapping[str, Any]], metric: str = "final_test_acc",
            test: str = "welch", correction: str = "holm", margin: float = 0.5,
            significance: float = 0.05, unreadable: int | None = None, diverged: str = "count"
            ) -> dict[str, Any]:
    """Run records of one sweep in, the ``spe stats --format json`` dictionary out.

    ``excluded.unreadable`` counts ``unreadable`` record files; by default those that
    ``records`` lists (a :class:`~spe_analysis.records.Records` from ``load_records``).

    Raises SpeError as :func:`~spe_analysis.stats.cells.load_samples` does; runs that differ
    in more than pool/alpha/beta/seed can be split first with
    :func:`~spe_analysis.stats.cells.split_groups`.
    """
    check_options(test, correction, margin, significance, diverged)
    baseline, values, excluded = load_samples(records, metric)
    if unreadable is None:
        unreadable = len(getattr(records, "unreadable", ()))
    result = compare(baseline, values, test=test, correction=correction, margin=margin,
                     significance=significance, excluded=excluded, unreadable=unreadable,
                     diverged=diverged)
    return {"metric": metric, **result, "group": {}}


def sweep_spread(records: Sequence[Mapping[str, Any]], metric: str = "final_test_acc"
                 ) -> tuple[float | None, int]:
    """(pooled SD, number of cells besides the baseline) of one sweep, for ``spe plan DIR``."""
    baseline, values, excluded = load_samples(records, metric)
    return pooled_spread(baseline, values), len((set(values) | set(excluded)) - {BASELINE})
