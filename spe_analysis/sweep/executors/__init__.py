"""Where runs execute: in this process, in N local worker processes, as Ray tasks or as
Slurm jobs (one module each).

Every executor has ``slots`` (runs at once), ``threads`` (torch threads per run) and
``run(tasks, emit)``, a generator of ``(task, end_event)`` pairs in completion order that
forwards the workers' progress events to ``emit`` on the calling thread, and ``close()``.
Each task runs :func:`~spe_analysis.sweep.runner.execute`, which claims the run, so
executors never need to coordinate with each other.
"""
from __future__ import annotations

import os

from ...errors import SpeError, choose, positive_int
from ...names import AUTO_FUSE, EXECUTORS
from .local import InProcessExecutor, ProcessExecutor
from .ray_cluster import RAY_INSTALL, RayExecutor
from .slurm import SLURM_INSTALL, SlurmExecutor

# What --workers auto does on a CPU.  "processes": one single-threaded worker per core;
# "threads": one worker using every core.  benchmarks/bench_workers.py, resnet20 on digits,
# 2 shared cores: processes 1.9x the throughput of threads (median of 5), and steady where
# two threads per run slowed 3x whenever another program wanted a core.
AUTO_CPU_LAYOUT = "processes"
# What --workers auto starts per CUDA device.  A CIFAR ResNet-20 step is bound by kernel
# launches (about 10 ms at batch 128 on an H200), so runs sharing a GPU fill each other's
# gaps: bench_workers.py --device cuda gave 4 per GPU 2.5x the runs per minute of 1.
AUTO_WORKERS_PER_GPU = 4


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def cuda_devices(device: str) -> int:
    """How many CUDA devices runs on ``device`` would use (0 when they run elsewhere)."""
    if device not in ("auto", "cuda"):
        return 0
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def fuse_size(fuse: str | int | None, device: str = "auto") -> int:
    """Runs per fused model for ``--fuse`` (1: unfused) on ``device``."""
    if fuse is None or fuse == "auto":
        return AUTO_FUSE["cuda" if cuda_devices(device) else "cpu"]
    if fuse == "off":
        return 1
    text = str(fuse)
    return positive_int("--fuse (K, auto or off)", int(text) if text.lstrip("-").isdigit() else fuse)


def local_layout(workers: int | str, device: str = "auto", threads: int | None = None,
                 cpus: int | None = None) -> tuple[int, int, list[int | None]]:
    """(worker processes, torch threads each, CUDA device index of each worker).

    ``auto``: AUTO_WORKERS_PER_GPU workers per visible CUDA device (fewer when CPUs are
    scarce); on CPU the layout AUTO_CPU_LAYOUT.  Worker i uses CUDA device i mod #devices.
    """
    cpus = cpus or available_cpus()
    gpus = cuda_devices(device)
    if workers == "auto" and gpus:
        workers = gpus * max(1, min(AUTO_WORKERS_PER_GPU, cpus // gpus))
    elif workers == "auto":
        workers = cpus if AUTO_CPU_LAYOUT == "processes" else 1
    else:
        try:
            workers = int(workers)
        except (TypeError, ValueError):
            raise SpeError(f"--workers must be a positive integer or auto, got {workers!r}") from None
        if workers < 1:
            raise SpeError(f"--workers must be at least 1, got {workers}")
    if threads is not None and threads < 1:
        raise SpeError(f"--threads must be at least 1, got {threads}")
    threads = threads or max(1, cpus // workers)
    return workers, threads, [i % gpus if gpus else None for i in range(workers)]



def make_executor(executor: str = "local", *, workers: int | str = 1, device: str = "auto",
                  threads: int | None = None, ray_address: str | None = None,
                  num_cpus: float = 1, num_gpus: float = 0, slurm: dict | None = None):
    """The executor for ``--executor`` and its options (``slurm``: SlurmExecutor's keywords)."""
    choose("executor", executor, EXECUTORS)
    if executor == "ray":
        return RayExecutor(ray_address, num_cpus, num_gpus)
    if executor == "slurm":
        return SlurmExecutor(**(slurm or {}))
    from ...training.run import pick_device

    pick_device(device)  # refuse an unknown or absent device before any run starts
    workers, threads, cuda = local_layout(workers, device, threads)
    if workers == 1:
        return InProcessExecutor(threads)
    return ProcessExecutor(workers, threads, cuda)


__all__ = ["AUTO_CPU_LAYOUT", "AUTO_WORKERS_PER_GPU", "InProcessExecutor", "ProcessExecutor", "RAY_INSTALL",
           "RayExecutor", "SLURM_INSTALL", "SlurmExecutor", "available_cpus", "cuda_devices", "fuse_size", "local_layout",
           "make_executor"]
