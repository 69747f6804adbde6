"""Two measurements of the sweep machinery, side by side in one process.

1. Layout.  CPU: N runs of resnet20 (digits, two epochs) as ``W workers x 1 thread`` (one
   process per core) against ``1 worker x W threads``, alternating, repeated; decides
   ``AUTO_CPU_LAYOUT`` (what ``--workers auto`` does on a CPU).  CUDA (``--device cuda``):
   one worker per GPU against ``--per-gpu K`` workers sharing each GPU, which pays off when
   one small model leaves the GPU idle between kernels; decides ``AUTO_WORKERS_PER_GPU``.
2. Overhead: the seconds a sweep spends per run beyond the trainer itself (planning, lock,
   event log, skip checks, progress events), with the real trainer and with a trainer that
   only writes its record.

    python3 benchmarks/bench_workers.py [--runs 8] [--repeats 5] [--epochs 2] [--train-subset N]
        [--dataset digits] [--device cpu|cuda] [--per-gpu 4]
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from spe_analysis.records import SCHEMA, utc_now, write_record
from spe_analysis.sweep import InProcessExecutor, ProcessExecutor, build_spec, run_sweep
from spe_analysis.sweep.executors import available_cpus, cuda_devices, local_layout

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


def spec_for(runs: int, dataset: str, train_subset: int | None, epochs: int = 1):
    # runs = 1 avg cell + (runs - 1) mix cells, one seed: distinct runs, same cost each.
    alphas = ",".join(str(i + 1) for i in range(runs - 1))
    return build_spec({"alpha_grid": alphas, "beta_grid": "1", "seeds": 1, "dataset": dataset,
                       "model": "resnet20", "epochs": epochs, "train_subset": train_subset})


def sweep_seconds(spec, executor, device: str, trainer=None) -> float:
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        summary = run_sweep(spec, out, executor, device=device, trainer=trainer)
        seconds = time.perf_counter() - started
    assert summary.counts["ok"] == len(spec.configs()), summary
    return seconds


def layout_executor(workers: int, device: str, threads: int | None = None):
    workers, threads, cuda = local_layout(workers, device, threads)
    return ProcessExecutor(workers, threads, cuda)


def candidate_layouts(device: str, per_gpu: int) -> dict[str, object]:
    """The two layouts to compare, by label."""
    cpus = available_cpus()
    if device == "cuda":
        gpus = cuda_devices(device)
        return {f"{gpus} worker(s), 1 per GPU": layout_executor(gpus, device),
                f"{gpus * per_gpu} workers, {per_gpu} per GPU": layout_executor(gpus * per_gpu, device)}
    return {f"{cpus} workers x 1 thread": layout_executor(cpus, device, 1),
            f"1 worker x {cpus} threads": InProcessExecutor(threads=cpus)}


def layouts(spec, repeats: int, device: str, per_gpu: int, dataset: str) -> None:
    """Steady-state throughput of two layouts; the worker processes are started (and
    timed) once, as a sweep keeps them for all its runs."""
    executors = candidate_layouts(device, per_gpu)
    try:
        startup = {label: sweep_seconds(spec_for(max(executor.slots, 2), dataset, 64), executor, device)
                   for label, executor in executors.items()}  # spawn, import torch, load data
        results = {label: [] for label in executors}
        for _ in range(repeats):
            for label, executor in executors.items():
                results[label].append(sweep_seconds(spec, executor, device))
    finally:
        for executor in executors.values():
            executor.close()
    runs = len(spec.configs())
    print(f"\nlayout: {runs} resnet20 runs of {dataset} per sweep on {device}, {repeats} sweeps each, "
          f"alternating; load average {os.getloadavg()[0]:.1f} on {available_cpus()} CPUs")
    for label, seconds in results.items():
        median = statistics.median(seconds)
        print(f"  {label:<26} median {median:6.1f} s per sweep, {runs / median * 60:6.1f} runs/min  "
              f"(each: {', '.join(f'{s:.1f}' for s in seconds)}; first start {startup[label]:.1f} s)")
    first, second = (statistics.median(seconds) for seconds in results.values())
    print(f"  median speed of the first layout / the second: {second / first:.2f} (>1: the first is faster)")


def overhead(spec, device: str) -> None:
    runs = len(spec.configs())
    print(f"\noverhead per run, in-process executor, {runs} runs")
    for name, trainer in (("real trainer", timed_train_run), ("record-only trainer", record_only)):
        sweep_seconds(spec, InProcessExecutor(threads=1), device, trainer)  # warm up imports and caches
        TRAINER_SECONDS.clear()
        total = sweep_seconds(spec, InProcessExecutor(threads=1), device, trainer)
        extra = (total - sum(TRAINER_SECONDS)) / runs
        print(f"  {name:<20} sweep {total:6.2f} s, trainer {sum(TRAINER_SECONDS):6.2f} s, "
              f"machinery {extra * 1000:6.1f} ms per run")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-subset", type=int, default=None, help="default: the whole training set")
    parser.add_argument("--dataset", default="digits", help="any --dataset spe train accepts (default: digits)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--per-gpu", type=int, default=4, help="workers per GPU of the second CUDA layout")
    args = parser.parse_args()
    spec = spec_for(args.runs, args.dataset, args.train_subset, args.epochs)
    overhead(spec, args.device)
    layouts(spec, args.repeats, args.device, args.per_gpu, args.dataset)


if __name__ == "__main__":
    main()
