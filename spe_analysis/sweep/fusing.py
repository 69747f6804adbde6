"""Fused sweep tasks: up to K runs of the grid trained as one model (``spe sweep --fuse``).

A fused task is a :class:`~spe_analysis.sweep.runner.RunTask` whose ``fused_with`` holds
the other runs' configurations.  Executors treat it as any task; its worker
(:func:`~spe_analysis.sweep.runner.execute`) claims each of its runs with the run's own
lock, trains only the runs that still need it (fused when more than one), writes one record
per run and returns one end event per run, so resuming, locking and failures stay per run.
"""
from __future__ import annotations

import dataclasses
from collections import defaultdict

from ..config import RunConfig
from ..errors import positive_int
from ..training_fused import fusion_key

FUSE_HELP = "K (runs per fused model), auto or off"
# What --fuse auto trains together per device.  CPU: 1 (unfused): bench_fused.py --device cpu
# (bf16, 1 thread) gave grouped kernels 0.95-1.06x the img/s of unfused at K = 2 and 4 over
# three invocations (no gain beyond the noise of the shared machine) and split kernels
# 0.78-0.87x.  CUDA: a guess, not measured (no GPU was lent): a ResNet-20 step is
# launch-bound (9.4 ms on an H200), so K runs per launch should pay.
AUTO_FUSE = {"cpu": 1, "cuda": 8}


def fuse_size(fuse: str | int | None, device: str = "auto") -> int:
    """Runs per fused model for ``--fuse`` (1: unfused) on ``device``."""
    if fuse is None or fuse == "auto":
        from .executors import cuda_devices

        return AUTO_FUSE["cuda" if cuda_devices(device) else "cpu"]
    if fuse == "off":
        return 1
    text = str(fuse)
    return positive_int("--fuse (K, auto or off)", int(text) if text.lstrip("-").isdigit() else fuse)


def group_tasks(tasks: list, size: int) -> list:
    """The tasks in fused groups of up to ``size`` runs that can share a model (in order)."""
    if size <= 1:
        return list(tasks)
    groups: dict[tuple, list] = defaultdict(list)
    alone = []
    for task in tasks:
        key = fusion_key(RunConfig.from_dict(task.config))
        (alone.append(task) if key is None else groups[key].append(task))
    fused = []
    for members in groups.values():
        for start in range(0, len(members), size):
            chunk = members[start:start + size]
            fused.append(dataclasses.replace(chunk[0], fused_with=tuple(t.config for t in chunk[1:])))
    return fused + alone


def single_tasks(task) -> list:
    """One unfused task per run of ``task``."""
    return [dataclasses.replace(task, config=config, fused_with=()) for config in task_configs(task)]


def task_configs(task) -> list[dict]:
    return [task.config, *task.fused_with]


def split_end(task, end: dict) -> list[tuple]:
    """(single task, end event) per run of a task's end (a fused group ends with one per run)."""
    if "ends" not in end:
        return [(task, end)]
    by_id = {RunConfig.from_dict(t.config).run_id: t for t in single_tasks(task)}
    return [(by_id[e["run_id"]], e) for e in end["ends"]]
