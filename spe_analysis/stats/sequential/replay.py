"""The group-sequential analysis of a sweep: replay its looks from the records.

The state of a sequential sweep is a pure function of its records.  A cell's look k is
complete when every seed of the look (the first n_k seeds of the sweep) has a record for the
cell and for the baseline, whatever its status; the cell stops at the first complete look
where :func:`~spe_analysis.stats.sequential.design.decide` reaches a verdict, or at the last look.
The sweep asks :func:`replay` what to run next; ``spe stats`` reports the same replay
(:func:`compare_sequential`), so both always agree.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .. import intervals
from ...errors import choose
from ..analysis import Samples, _cell_row, _output_row, apply_divergences, baseline_row, pooled_spread
from ..cells import BASELINE, EXCLUSIONS, Cell, cell_label, cell_of, load_samples
from .design import CONTINUE, SPENDING_NAMES, Design, decide
from ..tables import level_text
from ..verdicts import DIVERGED, claim, verdict


@dataclass(frozen=True)
class Stop:
    """Where one cell stands: ``look`` (0-based) it stopped at, None while it is open;
    ``last`` the last complete look (None before the first); ``decision`` a code of
    :mod:`~spe_analysis.stats.sequential` (CONTINUE: undecided)."""
    look: int | None
    last: int | None
    decision: int = CONTINUE

    @property
    def open(self) -> bool:
        return self.look is None

    def next_look(self) -> int | None:
        return None if self.look is not None else 0 if self.last is None else self.last + 1


def recorded_seeds(records: Iterable[Mapping[str, Any]]) -> dict[Cell, set[int]]:
    """Per cell, the seeds that have a record of any status."""
    seen: dict[Cell, set[int]] = {}
    for record in records:
        seen.setdefault(cell_of(record), set()).add(int(record.get("config", {}).get("seed", 0)))
    return seen


def _values(samples: Samples, seeds: Sequence[int]) -> np.ndarray:
    return np.array([samples[s] for s in seeds if s in samples], float)


def replay(baseline: Samples, cells: Mapping[Cell, Samples], recorded: Mapping[Cell, set[int]],
           design: Design, seeds: Sequence[int], compared: Sequence[Cell]) -> dict[Cell, Stop]:
    """The stop of every ``compared`` cell; look k uses ``seeds[:design.looks[k]]``."""
    base_seen = recorded.get(BASELINE, set())
    stops = {}
    for cell in compared:
        stop, last, code = None, None, CONTINUE
        for k, n in enumerate(design.looks):
            look_seeds = seeds[:n]
            if not set(look_seeds) <= (recorded.get(cell, set()) & base_seen):
                break
            last = k
            a, b = _values(cells.get(cell, {}), look_seeds), _values(baseline, look_seeds)
            code = int(decide(a, b, design, k)) if a.size >= 2 and b.size >= 2 else CONTINUE
            if code != CONTINUE or k == len(design.looks) - 1:
                stop = k
                break
        stops[cell] = Stop(stop, last, code)
    return stops


def _sequential_row(cell: Cell, stop: Stop, values: Samples, baseline: Samples, design: Design,
                    seeds: Sequence[int]) -> dict[str, Any]:
    """The CONTRACT row of a cell at its stopping look (an open cell: at its last complete look)."""
    look = stop.look if stop.look is not None else stop.last
    if look is None:  # no complete look yet: what there is, untested
        row = _cell_row(cell, values, baseline, "welch", design.margin)
        row["verdict"] = "inconclusive" if row["sufficient"] else "insufficient"
        row.update(p_adjusted=None, tost_p_adjusted=None)
        return {**row, "look": None, "n_baseline": len(baseline)}
    look_seeds = set(seeds[:design.looks[look]])
    row = _cell_row(cell, {s: v for s, v in values.items() if s in look_seeds},
                    {s: v for s, v in baseline.items() if s in look_seeds}, "welch", design.margin)
    if row["sufficient"]:
        # Scaled so that "adjusted p < significance" is exactly "crosses the look's boundary",
        # which keeps the verdict rule of CONTRACT.md.
        row["p_adjusted"] = min(1.0, row["p_value"] * design.alpha / design.nominal_p[look])
        row["tost_p_adjusted"] = min(1.0, row["tost_p"] * design.alpha / design.nominal_p_equivalence[look])
        a = _values(values, sorted(look_seeds))
        b = _values(baseline, sorted(look_seeds))
        row["ci_low"], row["ci_high"] = intervals.t_interval(a, b, 1.0 - design.nominal_p[look])
        row["ci_method"] = "rci"
        # The interval TOST decided on: inside ±margin exactly when both one-sided Welch tests
        # cross the look's one-sided boundary, so a cell is `equivalent` exactly when it fits.
        row["equivalence_ci_low"], row["equivalence_ci_high"] = intervals.t_interval(
            a, b, 1.0 - 2.0 * design.nominal_p_equivalence[look])
    row["verdict"] = verdict(row["sufficient"], row["delta"], row.get("p_adjusted"),
                             row.get("tost_p_adjusted"), design.alpha)
    return {**row, "look": look, "n_baseline": len(look_seeds & set(baseline))}


def _statement(design: Design, rows: Sequence[Mapping[str, Any]], stops: Mapping[Cell, Stop]) -> str:
    looks = ", ".join(map(str, design.looks))
    parts = []
    for row in rows:
        cell = (row["pool"], row["alpha"], row["beta"])
        stop = stops[cell]
        if stop.open:
            parts.append(f"{cell_label(cell)} still open after "
                         f"{'no look' if stop.last is None else f'look {stop.last + 1}'}")
            continue
        k = stop.look
        ci = ("" if row["ci_low"] is None else
              f", repeated CI {row['ci_low']:+.2f} to {row['ci_high']:+.2f} (two-sided, per-look "
              f"level {level_text(row['ci_level'])}), equivalence interval {row['equivalence_ci_low']:+.2f} "
              f"to {row['equivalence_ci_high']:+.2f} (per-look level {level_text(row['equivalence_ci_level'])}, "
              f"inside ±{design.margin:g} exactly when equivalent)")
        parts.append(f"{cell_label(cell)} stopped at look {k + 1} ({design.looks[k]} seeds, "
                     f"|z| >= {design.z[k]:.2f}, nominal p {design.nominal_p[k]:.2g}): "
                     f"{row['verdict']}{ci}")
    return (f"Group-sequential analysis, as the sweep was run (a fixed-sample test on adaptively "
            f"stopped seeds would be wrong): looks at {looks} seeds per arm, "
            f"{SPENDING_NAMES[design.spending]} spending, two-sided alpha {design.alpha:g} split over "
            f"{design.cells} cells by Bonferroni, Welch t against each look's nominal p; "
            f"equivalence by TOST at ±{design.margin:g} with one-sided boundaries from the same "
            f"spending. " + "; ".join(parts) + ".")


def compare_sequential(baseline: Samples, cells: Mapping[Cell, Samples],
                       recorded: Mapping[Cell, set[int]], design: Design, seeds: Sequence[int],
                       compared: Sequence[Cell], excluded: Mapping[Cell, Mapping[str, int]] | None = None,
                       unreadable: int = 0, diverged: str = "count") -> dict[str, Any]:
    """The ``spe stats --format json`` dictionary of a sequential sweep, with ``sequential``
    and per cell ``stopped_at_look`` (1-based; null while open), its ``boundary`` and
    ``nominal_p``, the per-look levels ``ci_level`` of the repeated CI and
    ``equivalence_ci_level`` of the interval TOST decided on (``equivalence_ci_low/high``).
    The top-level ``ci_level`` is null: every cell has its own; together the repeated CIs
    cover with ``simultaneous_level`` 1 - alpha."""
    choose("--diverged", diverged, DIVERGED)
    excluded = excluded or {}
    stops = replay(baseline, cells, recorded, design, seeds, compared)
    rows = []
    for cell in compared:
        row = _sequential_row(cell, stops[cell], cells.get(cell, {}), baseline, design, seeds)
        out = _output_row(row, excluded.get(cell, {}))
        look = row["look"]
        tested = look is not None and row["sufficient"]
        out.update(n_baseline=row["n_baseline"],
                   stopped_at_look=None if stops[cell].open else stops[cell].look + 1,
                   look_seeds=None if look is None else design.looks[look],
                   boundary=None if look is None else float(design.z[look]),
                   nominal_p=None if look is None else float(design.nominal_p[look]),
                   ci_level=float(1.0 - design.nominal_p[look]) if tested else None,
                   equivalence_ci_low=row.get("equivalence_ci_low"),
                   equivalence_ci_high=row.get("equivalence_ci_high"),
                   equivalence_ci_level=float(1.0 - 2.0 * design.nominal_p_equivalence[look]) if tested else None)
        rows.append(out)
    base = baseline_row(baseline, excluded.get(BASELINE, {}))
    apply_divergences(rows, base, diverged)
    totals = {reason: sum(c.get(reason, 0) for c in excluded.values()) for reason in EXCLUSIONS}
    totals["unreadable"] = unreadable
    sd = pooled_spread(baseline, cells)
    verdicts = claim(base, rows, test="welch", correction="bonferroni", margin=design.margin,
                     significance=design.alpha, sd=sd, excluded=totals, diverged=diverged)
    verdicts["statement"] += " " + _statement(design, rows, stops)
    return {"test": "welch", "correction": "bonferroni", "margin": design.margin,
            "significance": design.alpha, "ci_level": None, "simultaneous_level": 1.0 - design.alpha,
            "diverged": diverged, "baseline": base, "cells": rows,
            "claim": verdicts, "excluded": totals, "pooled_sd": sd, "sequential": design.to_json()}


def analyze_sequential(records: Sequence[Mapping[str, Any]], design: Design, seeds: Sequence[int],
                       compared: Sequence[Cell], metric: str = "final_test_acc", unreadable: int = 0,
                       diverged: str = "count") -> dict[str, Any]:
    """Run records of a sequential sweep in, the ``spe stats --format json`` dictionary out
    (``compared``: the design's cells besides the baseline; ``seeds``: in look order)."""
    baseline, values, excluded = load_samples(records, metric)
    result = compare_sequential(baseline, values, recorded_seeds(records), design, seeds, compared,
                                excluded, unreadable, diverged)
    return {"metric": metric, **result, "group": {}}
