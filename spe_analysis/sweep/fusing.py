"""Fused sweep tasks: up to K runs of the grid trained as one model (``spe sweep --fuse``).

A fused task is a :class:`~spe_analysis.sweep.runner.RunTask` whose ``fused_with`` holds
the other runs' configurations.  Executors treat it as any task; :func:`execute_group`
claims each of its runs with the run's own lock, trains only the runs that still need it
(fused when more than one), writes one record per run and returns one end event per run,
so resuming, locking and failures stay per run.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections import defaultdict

from ..config import RunConfig
from ..errors import SpeError, positive_int
from ..names import AUTO_FUSE
from ..records import read_record, record_path, utc_now, write_record
from ..training_fused import fusion_key
from .locks import HOST, try_claim


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


def execute_group(task, emit) -> dict:
    """Claim, train (fused) and record the runs of a fused task; one end event per run."""
    from ..training import train_run
    from ..training_fused import train_fused
    from .runner import _throttled, failed_record, lock_path, log_event, needs_run

    ends, todo = [], []
    with contextlib.ExitStack() as locks:
        for config in map(RunConfig.from_dict, task_configs(task)):
            rid = config.run_id
            lock = try_claim(lock_path(task.out_dir, rid), task.stale_after)
            if lock is None:
                ends.append({"event": "end", "run_id": rid, "status": "busy"})
                continue
            locks.enter_context(lock)
            if needs_run(read_record(record_path(task.out_dir, rid)), task.retry_failed):
                todo.append(config)
            else:
                ends.append({"event": "end", "run_id": rid, "status": "skipped"})
        for config in todo:
            emit({"event": "start", "run_id": config.run_id, "host": HOST, "pid": os.getpid()})
            log_event(task.out_dir, event="start", run_id=config.run_id, fused=len(todo))
        started, started_at = time.perf_counter(), utc_now()
        options = dict(device=task.device, data_dir=task.data_dir, deterministic=task.deterministic,
                       threads=task.threads, on_progress=_throttled(emit))
        try:
            if len(todo) > 1:
                records = train_fused(todo, task.out_dir, **options)
            else:
                records = [train_run(config, task.out_dir, **options) for config in todo]
        except SpeError:
            raise
        except Exception as exc:  # recorded; one bad group must not stop the sweep
            records = [failed_record(c, f"{type(exc).__name__}: {exc}", task.device, started_at) for c in todo]
            for record in records:
                write_record(task.out_dir, record)
        seconds = time.perf_counter() - started
        for record in records:
            log_event(task.out_dir, event="end", run_id=record["run_id"], status=record["status"], seconds=seconds)
            ends.append({"event": "end", "run_id": record["run_id"], "status": record["status"],
                         "seconds": seconds, "final_test_acc": (record.get("metrics") or {}).get("final_test_acc"),
                         "error": record.get("error")})
    return {"event": "end", "run_id": RunConfig.from_dict(task.config).run_id, "status": "group", "ends": ends}
