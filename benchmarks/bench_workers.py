"""Two measurements of the sweep machinery, side by side in one process.

1. Layout: N runs of resnet20 (digits, two epochs) as ``W workers x 1 thread`` (one process
   per core) against ``1 worker x W threads``, alternating, repeated.  Decides
   ``AUTO_CPU_LAYOUT`` (what ``--workers auto`` does on a CPU).
2. Overhead: the seconds a sweep spends per run beyond the trainer itself (planning, lock,
   event log, skip checks, progress events), with the real trainer and with a trainer that
   only writes its record.

    python3 benchmarks/bench_workers.py [--runs 8] [--repeats 5] [--epochs 2] [--train-subset N]
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from spe_analysis.records import SCHEMA, utc_now, write_record
from spe_analysis.sweep import InProcessExecutor, ProcessExecutor, build_spec, run_sweep
from spe_analysis.sweep.executors import available_cpus

TRAINER_SECONDS: list[float] = []


def timed_train_run(config, out_dir, **kw):
    from spe_analysis.training import train_run

    started = time.perf_counter()
    record = train_run(config, out_dir, **kw)
    TRAINER_SECONDS.append(time.perf_counter() - started)
    return record


def record_only(config, out_dir, **kw):
    TRAINER_SECONDS.append(0.0)
    record = {"schema": SCHEMA, "run_id": config.run_id, "status": "ok", "config": config.to_dict(),
              "metrics": {}, "history": [], "env": {}, "started_at": utc_now(),
              "finished_at": utc_now(), "error": None}
    write_record(out_dir, record)
    return record


def spec_for(runs: int, train_subset: int | None, epochs: int = 1):
    # runs = 1 avg cell + (runs - 1) mix cells, one seed: distinct runs, same cost each.
    alphas = ",".join(str(i + 1) for i in range(runs - 1))
    return build_spec({"alpha_grid": alphas, "beta_grid": "1", "seeds": 1, "dataset": "digits",
                       "model": "resnet20", "epochs": epochs, "train_subset": train_subset})


def sweep_seconds(spec, executor, trainer=None) -> float:
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        summary = run_sweep(spec, out, executor, device="cpu", trainer=trainer)
        seconds = time.perf_counter() - started
    assert summary.counts["ok"] == len(spec.configs()), summary
    return seconds


def layouts(spec, repeats: int, cpus: int) -> None:
    """Steady-state throughput of both layouts; the worker processes are started (and
    timed) once, as a sweep keeps them for all its runs."""
    pool = ProcessExecutor(cpus, 1, [None] * cpus)
    single = InProcessExecutor(threads=cpus)
    try:
        startup = sweep_seconds(spec_for(cpus, 64), pool)  # spawn, import torch, load data
        sweep_seconds(spec_for(2, 64), single)
        results = {"processes": [], "threads": []}
        for _ in range(repeats):
            results["processes"].append(sweep_seconds(spec, pool))
            results["threads"].append(sweep_seconds(spec, single))
    finally:
        pool.close()
    runs = len(spec.configs())
    print(f"\nlayout: {runs} resnet20 runs per sweep, {repeats} sweeps each, alternating; "
          f"load average {os.getloadavg()[0]:.1f} on {cpus} CPUs; starting {cpus} workers took {startup:.1f} s")
    for name, label in (("processes", f"{cpus} workers x 1 thread"), ("threads", f"1 worker x {cpus} threads")):
        median = statistics.median(results[name])
        print(f"  {label:<22} median {median:6.1f} s per sweep, {runs / median * 60:6.1f} runs/min  "
              f"(each: {', '.join(f'{s:.1f}' for s in results[name])})")
    ratio = statistics.median(results["threads"]) / statistics.median(results["processes"])
    print(f"  median speed of processes / threads: {ratio:.2f} (>1: processes faster)")


def overhead(spec) -> None:
    runs = len(spec.configs())
    print(f"\noverhead per run, in-process executor, {runs} runs")
    for name, trainer in (("real trainer", timed_train_run), ("record-only trainer", record_only)):
        sweep_seconds(spec, InProcessExecutor(threads=1), trainer)  # warm up imports and caches
        TRAINER_SECONDS.clear()
        total = sweep_seconds(spec, InProcessExecutor(threads=1), trainer)
        extra = (total - sum(TRAINER_SECONDS)) / runs
        print(f"  {name:<20} sweep {total:6.2f} s, trainer {sum(TRAINER_SECONDS):6.2f} s, "
              f"machinery {extra * 1000:6.1f} ms per run")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-subset", type=int, default=None, help="default: all 1347 train images")
    args = parser.parse_args()
    spec = spec_for(args.runs, args.train_subset, args.epochs)
    overhead(spec)
    layouts(spec, args.repeats, available_cpus())


if __name__ == "__main__":
    main()
