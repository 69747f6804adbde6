"""Running a sweep: plan the runs, skip the finished ones, claim and execute the rest.

One run on any worker is :func:`execute`: claim the run's lock, check that nobody finished
it meanwhile, train, write the record, release.  Records are the only state: a sweep killed
at any moment (SIGKILL included) loses at most its runs in flight, and running it again runs
exactly what is missing.  Progress goes to a plain ``on_event(dict)`` callback; the command
line decides how to show it.
"""
from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from ..training.config import RunConfig
from ..pool_labels import pool_label
from ..errors import SpeError
from ..atomic import atomic_write_text
from ..records import read_record, record_path, runs_dir, utc_now, write_record
from ..training.outcome import Outcome, make_record
from .fusing import group_tasks, single_tasks, split_end, task_configs
from .locks import DEFAULT_STALE_AFTER, HOST, claimed_by, held, release_claimed, try_claim
from .spec import SweepSpec, read_spec, spec_path

Event = dict[str, Any]
OnEvent = Callable[[Event], None]
Trainer = Callable[..., dict]
LOCKS_DIR = "locks"
EVENT_LOG = "events.jsonl"
PROGRESS_INTERVAL = 0.25  # seconds between forwarded per-step progress events of one run
BUSY_POLL = 1.0  # seconds between looks at runs that another sweep holds
LOST_TRIES = 3  # times a run is sent when its task keeps being lost before claiming it
OUTCOMES = ("ok", "diverged", "failed", "skipped")


@dataclass(frozen=True)
class RunTask:
    """Everything a worker (a local process or a Ray task) needs for one run; picklable."""
    config: dict[str, Any]
    out_dir: str
    device: str = "auto"
    data_dir: str | None = None
    threads: int | None = None
    stale_after: float = DEFAULT_STALE_AFTER
    retry_failed: bool = False
    deterministic: bool = False
    trainer: Trainer | None = None  # None: spe_analysis.training.train_run
    fused_with: tuple[dict[str, Any], ...] = ()  # runs trained with this one as one model (fusing.py)
    # Written into the locks this task's worker takes, so that the sweep can tell them if the
    # worker is lost (settle_lost_task); a fresh one each time a task is sent.
    claim: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def run_id(self) -> str:
        return RunConfig.from_dict(self.config).run_id


def lock_path(out_dir: str | os.PathLike, rid: str) -> Path:
    return Path(out_dir) / LOCKS_DIR / f"{rid}.lock"


def needs_run(record: dict | None, retry_failed: bool) -> bool:
    return record is None or (retry_failed and record.get("status") == "failed")


def log_event(out_dir: str | os.PathLike, **fields: Any) -> None:
    """Append one line to DIR/events.jsonl: who ran what, when (one write, O_APPEND)."""
    line = json.dumps({"time": utc_now(), "host": HOST, "pid": os.getpid(), **fields}) + "\n"
    fd = os.open(Path(out_dir) / EVENT_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def failed_record(config: RunConfig, error: str, device: str, started_at: str) -> dict[str, Any]:
    """The record of a run whose trainer raised (the trainer records its own failures; this
    covers what escapes it, such as a broken dataset file or a worker that died)."""
    return make_record(config, Outcome(status="failed"), device, started_at, error)


def _throttled(emit: OnEvent) -> Callable[[Event], None]:
    """Forward epoch ends always, per-step events at most every PROGRESS_INTERVAL seconds.

    Best effort: a progress channel that broke (the parent process or the Ray driver died)
    must not turn a good run into a failed one."""
    last = [0.0]

    def on_progress(event: Event) -> None:
        now = time.monotonic()
        if "test_acc" in event or now - last[0] >= PROGRESS_INTERVAL:
            last[0] = now
            with contextlib.suppress(Exception):
                emit({"event": "progress", **event})
    return on_progress


def execute(task: RunTask, emit: OnEvent) -> Event:
    """Claim, train and record the run of ``task`` (or each run of a fused group); returns its
    ``end`` event (a group's holds one end per run).  Runs in the worker."""
    ends, todo = [], []
    with contextlib.ExitStack() as locks:
        for config in map(RunConfig.from_dict, task_configs(task)):
            rid = config.run_id
            lock = try_claim(lock_path(task.out_dir, rid), task.stale_after, claim=task.claim)
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
        started = time.perf_counter()
        records = _train(task, todo, _throttled(emit))
        seconds = time.perf_counter() - started
        for record in records:
            log_event(task.out_dir, event="end", run_id=record["run_id"], status=record["status"], seconds=seconds)
            ends.append({"event": "end", "run_id": record["run_id"], "status": record["status"],
                         "seconds": seconds, "final_test_acc": (record.get("metrics") or {}).get("final_test_acc"),
                         "error": record.get("error")})
    return _task_end(task, ends)


def _task_end(task: RunTask, ends: list[Event]) -> Event:
    """A task's end event from its runs' ends: the one end of a single run, else a group end."""
    if not task.fused_with:
        return ends[0]
    return {"event": "end", "run_id": task.run_id, "status": "group", "ends": ends}


def _train(task: RunTask, configs: list[RunConfig], on_progress) -> list[dict]:
    """Train ``configs`` (claimed, each needing a run) and return their records.

    The real trainer trains several runs as one fused model (training.train_group).  A stand-in
    trainer (``task.trainer``) stands in for that too and trains each run in turn, so that
    tests of the sweep machinery with a stand-in run the same claims, records and ends with
    ``--fuse`` as without.  An exception other than bad input becomes a ``failed`` record of
    each run it stopped: one bad run or group must not stop the sweep."""
    options = dict(device=task.device, data_dir=task.data_dir, deterministic=task.deterministic,
                   threads=task.threads, on_progress=on_progress)
    if task.trainer is None and len(configs) > 1:
        from ..training import train_group  # here: torch loads in the worker, not in planning

        return _guarded(task, configs, lambda: train_group(configs, task.out_dir, **options))
    trainer = task.trainer or _default_trainer()
    return [record for config in configs
            for record in _guarded(task, [config], lambda: [trainer(config, task.out_dir, **options)])]


def _guarded(task: RunTask, configs: list[RunConfig], train: Callable[[], list[dict]]) -> list[dict]:
    """``train()``'s records, or a ``failed`` record of each of ``configs`` if it raised."""
    started_at = utc_now()
    try:
        return train()
    except SpeError:
        raise
    except Exception as exc:  # recorded; see _train
        records = [failed_record(c, f"{type(exc).__name__}: {exc}", task.device, started_at) for c in configs]
        for record in records:
            write_record(task.out_dir, record)
        return records


def _default_trainer() -> Trainer:
    from ..training import train_run  # here: torch loads in the worker, not in planning
    return train_run


def settle_lost_task(task: RunTask, why: str) -> Event:
    """The end of each run of a task whose worker was lost (killed, out of memory, a Ray task or
    Slurm job that failed or vanished), from what the worker left behind.

    Only a lock's owner removes it; a lost worker's locks are known by the task's ``claim``
    written in them, and only those are settled on its behalf.  Per run:

    - a record other than ``failed``: kept (the worker died after writing it), its end reported;
    - else, locked for this task: the worker died in it: a ``failed`` record, then its lock freed;
    - else, locked by anyone else: ``busy`` (another sweep runs it: waited for, never marked);
    - else ``lost``: the worker never claimed it (a job cancelled while pending, a Ray task lost
      before it ran): nothing is written and :func:`run_sweep` sends it again.
    """
    return _task_end(task, [_settle_lost_run(t, why) for t in single_tasks(task)])


def _settle_lost_run(task: RunTask, why: str) -> Event:
    rid = task.run_id
    lock = lock_path(task.out_dir, rid)
    written = read_record(record_path(task.out_dir, rid))
    if written is not None and written.get("status") != "failed":
        release_claimed(lock, task.claim)
        return {"event": "end", "run_id": rid, "status": written["status"]}
    if claimed_by(lock, task.claim):
        write_record(task.out_dir, failed_record(RunConfig.from_dict(task.config), why, task.device, utc_now()))
        release_claimed(lock, task.claim)  # after the record: see execute
        return {"event": "end", "run_id": rid, "status": "failed", "error": why}
    if lock.exists():
        return {"event": "end", "run_id": rid, "status": "busy"}
    return {"event": "end", "run_id": rid, "status": "lost", "error": why}


@dataclass
class Summary:
    """What a sweep invocation did, by outcome; ``failed_runs`` as (run_id, error)."""
    total: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    failed_runs: list[tuple[str, str | None]] = field(default_factory=list)
    failed_before: int = 0  # failed records skipped (not retried): the grid is not all good
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        return 1 if self.counts["failed"] or self.failed_before else 0


@dataclass
class Plan:
    spec: SweepSpec
    configs: list[RunConfig]
    records: dict[str, dict | None]  # run id -> its record, None when not finished

    def todo(self, retry_failed: bool) -> list[RunConfig]:
        return [c for c in self.configs if needs_run(self.records[c.run_id], retry_failed)]

    def cell_table(self, retry_failed: bool = False) -> list[dict[str, Any]]:
        """One row per cell: pool, alpha, beta, runs, and how many are done / failed / to run."""
        rows: dict[tuple, dict[str, Any]] = {}
        for config in self.configs:
            pool = pool_label(config.pool, config.pool_param)
            row = rows.setdefault((pool, config.alpha, config.beta), {"pool": pool, "alpha": config.alpha, "beta": config.beta,
                                        "runs": 0, "done": 0, "failed": 0, "to run": 0})
            record = self.records[config.run_id]
            status = (record or {}).get("status")
            row["runs"] += 1
            row["done"] += status in ("ok", "diverged")
            row["failed"] += status == "failed"
            row["to run"] += needs_run(record, retry_failed)
        return list(rows.values())


def plan(spec: SweepSpec, out_dir: str | os.PathLike, configs: list[RunConfig] | None = None) -> Plan:
    """The runs of ``spec`` (or only ``configs`` of it: one look of a sequential sweep) and their records."""
    configs = spec.configs() if configs is None else configs
    return Plan(spec, configs, {c.run_id: read_record(record_path(out_dir, c.run_id)) for c in configs})


def check_directory(out_dir: str | os.PathLike, spec: SweepSpec, force: bool = False) -> SweepSpec:
    """The specification DIR will hold with ``spec`` added; refuses a different sweep.

    Raises SpeError (one line naming what differs) unless only the extent differs or
    ``force`` is given.  Writes nothing.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise SpeError(f"--out {out} is a file, not a sweep directory")
    stored = read_spec(out) if not force else None
    if stored is None:
        return spec
    differs = stored.differences(spec)
    if differs:
        raise SpeError(f"{out} holds a different sweep ({'; '.join(differs)}); use another --out, "
                       "or --force to run into it anyway")
    return stored.union(spec)


def prepare_directory(out_dir: str | os.PathLike, spec: SweepSpec, force: bool = False) -> None:
    """Check DIR against ``spec`` and write the (merged) ``DIR/sweep.toml`` before any run."""
    out = Path(out_dir)
    check_directory(out, spec, force)  # refuse before creating anything
    runs_dir(out).mkdir(parents=True, exist_ok=True)
    with held(out / LOCKS_DIR / "sweep.toml.lock"):  # one read-merge-write at a time
        text = check_directory(out, spec, force).to_toml()
        path = spec_path(out)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            atomic_write_text(path, text)


def run_sweep(spec: SweepSpec, out_dir: str | os.PathLike, executor, *, retry_failed: bool = False,
              force: bool = False, device: str = "auto", data_dir: str | None = None,
              deterministic: bool = False, stale_after: float = DEFAULT_STALE_AFTER, trainer: Trainer | None = None,
              on_event: OnEvent | None = None, configs: list[RunConfig] | None = None, fuse: int = 1) -> Summary:
    """Run every missing run of ``spec`` into ``out_dir`` on ``executor``; see module doc.

    Runs that another sweep holds are waited for (and taken over if their owner dies), and
    runs whose task was lost before its worker claimed them are sent again (LOST_TRIES in
    all, then reported failed), so that on return every run of the grid has a record or is
    counted failed.  ``configs`` limits the runs to those.
    ``fuse`` > 1 trains up to that many runs at a time as one fused model (fusing.py).
    """
    emit = on_event or (lambda event: None)
    started = time.perf_counter()
    prepare_directory(out_dir, spec, force)
    the_plan = plan(spec, out_dir, configs)
    todo = the_plan.todo(retry_failed)
    summary = Summary(total=len(the_plan.configs))
    summary.counts["skipped"] = summary.total - len(todo)
    summary.failed_before = sum((r or {}).get("status") == "failed" and not retry_failed
                                for r in the_plan.records.values())
    emit({"event": "sweep", "total": summary.total, "todo": len(todo), "skipped": summary.counts["skipped"],
          "workers": executor.slots, "out": str(out_dir)})
    tasks = [RunTask(c.to_dict(), str(Path(out_dir).resolve()), device, data_dir, executor.threads,
                     stale_after, retry_failed, deterministic, trainer) for c in todo]
    tasks = group_tasks(tasks, fuse)
    waiting: list[str] = []
    losses: Counter[str] = Counter()
    while tasks:
        busy, lost = [], []
        for task, end in (pair for done in executor.run(tasks, emit) for pair in split_end(*done)):
            if end["status"] == "busy":
                busy.append(task)
                continue
            if end["status"] == "lost":
                losses[task.run_id] += 1
                if losses[task.run_id] < LOST_TRIES:
                    lost.append(task)
                    continue
                end = {**end, "status": "failed"}  # reported, not recorded: the next sweep tries again
            summary.counts[end["status"]] += 1
            if end["status"] == "failed":
                summary.failed_runs.append((end["run_id"], end.get("error")))
            emit(end)
        if lost:
            emit({"event": "retry", "run_ids": [t.run_id for t in lost]})
        if busy:
            if [t.run_id for t in busy] != waiting:  # say so once, not every poll
                waiting = [t.run_id for t in busy]
                emit({"event": "waiting", "run_ids": waiting})
            time.sleep(BUSY_POLL)
        tasks = group_tasks([replace(t, claim=uuid.uuid4().hex) for t in lost + busy], fuse)
    summary.seconds = time.perf_counter() - started
    return summary
