"""Fused sweep tasks: up to K runs of the grid trained as one model (``spe sweep --fuse``).

A fused task is a :class:`~spe_analysis.sweep.runner.RunTask` whose ``fused_with`` holds
the other runs' configurations (which runs may share a model: :mod:`spe_analysis.training.groups`).
Executors treat it as any task; its worker (:func:`~spe_analysis.sweep.runner.execute`) claims each of its runs with the run's own
lock, trains only the runs that still need it (fused when more than one), writes one record
per run and returns one end event per run, so resuming, locking and failures stay per run.
"""
from __future__ import annotations

import dataclasses
from collections import defaultdict

from ..training.config import RunConfig
from ..training.groups import fusion_key


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
