"""Group-sequential sweeps (``spe sweep --until-decided``): seeds look by look, only where a
cell is still open.

Each round replays the design on the records
(:func:`~spe_analysis.stats.sequential.replay.replay`, the same replay ``spe stats``
reports), runs the missing seeds of every open cell's next look and of the baseline with
:func:`~spe_analysis.sweep.runner.run_sweep`, and repeats until no cell is open.  Records stay
the only state: a killed sweep resumes where it was, and a finished one runs nothing.
"""
from __future__ import annotations

import os
import time
import tomllib

from ..training.config import RunConfig
from ..errors import SpeError
from ..pool_labels import pool_label
from ..stats.cells import BASELINE, cell_label, collect
from ..stats.sequential import DECISIONS, analyze_sequential, recorded_seeds, replay
from .runner import OnEvent, Summary, needs_run, plan, prepare_directory, run_sweep
from .spec import SweepSpec, read_spec, spec_path

METRIC = "final_test_acc"  # what the design decides on


def stops(spec: SweepSpec, records: dict[str, dict | None]) -> dict:
    """The stop of every compared cell of ``spec`` given its records (run id -> record or None)."""
    found = [r for r in records.values() if r is not None]
    values, _ = collect(found, METRIC)
    compared = spec.cells()[1:]
    return replay(values.get(BASELINE, {}), values, recorded_seeds(found), spec.design(), spec.seeds, compared)


def frontier(spec: SweepSpec, cell_stops: dict, to_the_end: bool = False) -> list[RunConfig]:
    """The runs each cell's current look needs (its stopping look, or its next one while open;
    with ``to_the_end`` its last one), and the baseline's for the furthest of them, in the
    runner's seed-major order."""
    looks = spec.looks
    seeds_of = {cell: looks[stop.look if not stop.open else -1 if to_the_end else stop.next_look()]
                for cell, stop in cell_stops.items()}
    seeds_of[BASELINE] = max(seeds_of.values(), default=looks[0])
    first = {cell: set(spec.seeds[:n]) for cell, n in seeds_of.items()}
    return [c for c in spec.configs()
            if c.seed in first.get((pool_label(c.pool, c.pool_param), c.alpha, c.beta), ())]


def run_until_decided(spec: SweepSpec, out_dir: str | os.PathLike, executor, *, retry_failed: bool = False,
                      force: bool = False, on_event: OnEvent | None = None, **run_options
                      ) -> Summary:
    """Run ``spec``'s design into ``out_dir`` until every cell is decided or at its last look;
    the summary counts the runs as :func:`run_sweep` does."""
    emit = on_event or (lambda event: None)
    started = time.perf_counter()
    prepare_directory(out_dir, spec, force)
    done = Summary()
    while True:
        records = plan(spec, out_dir).records
        cell_stops = stops(spec, records)
        configs = frontier(spec, cell_stops)
        pending = [c for c in configs if needs_run(records[c.run_id], retry_failed)]
        open_cells = [cell for cell, stop in cell_stops.items() if stop.open]
        if not pending:
            break
        emit({"event": "look", "open": len(open_cells), "cells": len(cell_stops), "runs": len(pending),
              "look": 1 + min((cell_stops[c].next_look() for c in open_cells), default=0)})
        summary = run_sweep(spec, out_dir, executor, retry_failed=retry_failed, force=force,
                            on_event=on_event, configs=configs, **run_options)
        for outcome in ("ok", "failed", "diverged"):
            done.counts[outcome] += summary.counts[outcome]
        done.failed_runs += summary.failed_runs
        retry_failed = False  # a run that fails again stays failed: its look goes on without it
    used = [records[c.run_id] for c in configs]
    done.total = len(used)
    done.counts["skipped"] = done.total - sum(done.counts[o] for o in ("ok", "failed", "diverged"))
    done.failed_before = sum((r or {}).get("status") == "failed" for r in used) - done.counts["failed"]
    done.seconds = time.perf_counter() - started
    return done


def worst_case(spec: SweepSpec, out_dir: str | os.PathLike) -> list[RunConfig]:
    """The runs the design may still need: open cells to the last look, stopped cells no further."""
    return frontier(spec, stops(spec, plan(spec, out_dir).records), to_the_end=True)


def describe(spec: SweepSpec) -> list[str]:
    """The design in words: looks, spending, boundaries and the least and most runs it takes."""
    design = spec.design()
    cells = design.cells
    bounds = ", ".join(f"{z:.2f} (p {p:.2g})" for z, p in zip(design.z, design.nominal_p))
    fractions = ", ".join(f"{t:.2g}" for t in design.fractions)
    return [f"group-sequential design: looks at {', '.join(map(str, spec.looks))} seeds per arm "
            f"(t = {fractions}), {design.spending} spending, two-sided alpha {design.alpha:g} split "
            f"over {cells} cells (Bonferroni: {design.cell_alpha:.3g} each), equivalence margin "
            f"±{design.margin:g}",
            f"  |z| boundaries (nominal p): {bounds}",
            f"  runs: at most {(cells + 1) * spec.looks[-1]} (every cell to the last look), at least "
            f"{(cells + 1) * spec.looks[0]} (every cell decided at the first look)"]



def outcome(spec: SweepSpec, out_dir: str | os.PathLike) -> list[str]:
    """One line per cell: where it stopped and its verdict, or that it is still open."""
    lines = []
    for cell, stop in stops(spec, plan(spec, out_dir).records).items():
        if stop.open:
            lines.append(f"{cell_label(cell)}: open, next look {stop.next_look() + 1}")
        else:
            lines.append(f"{cell_label(cell)}: {DECISIONS.get(stop.decision, 'inconclusive')} at look "
                         f"{stop.look + 1} ({spec.looks[stop.look]} seeds)")
    return lines


def sequential_spec(out_dir: str | os.PathLike) -> SweepSpec | None:
    """The specification of a group-sequential sweep in ``out_dir``; None for any other directory."""
    try:
        sequential = tomllib.loads(spec_path(out_dir).read_text(encoding="utf-8")).get("until_decided")
    except (OSError, tomllib.TOMLDecodeError):
        return None  # not a sweep written by spe sweep: analysed as fixed runs, as before
    return read_spec(out_dir) if sequential else None


def analyze(spec: SweepSpec, records, metric: str = METRIC, test: str = "welch", unreadable: int = 0,
            diverged: str = "count", **given: float) -> dict:
    """``spe stats`` on a sequential sweep: the replay of its design, as the sweep stopped it.

    ``given`` holds the margin and significance the user asked for explicitly: they must be
    the design's, whose boundaries stopped the cells."""
    if test != "welch":
        raise SpeError(f"a group-sequential sweep is tested with Welch t tests at its boundaries, not "
                       f"--test {test}; add --fixed-design to analyse its runs as a fixed sweep")
    for name, value in given.items():
        if value != getattr(spec, name):
            raise SpeError(f"this sweep's design has --{name} {getattr(spec, name):g}, which decided when its "
                           f"cells stopped; add --fixed-design to analyse its runs with --{name} {value:g}")
    return analyze_sequential(records, spec.design(), spec.seeds, spec.cells()[1:], metric, unreadable,
                              diverged)
