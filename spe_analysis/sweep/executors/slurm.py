"""The Slurm executor: each run one Slurm job (an element of a submitit job array).

Jobs write records straight into the sweep directory, so it must be on storage that the
cluster's nodes share; submitit keeps its pickles and the jobs' logs in ``OUT/slurm``.  A job
sends its progress events as JSON lines to a file of its own there, which the sweep reads
back for the live display.  Job states come from ``squeue`` (``sacct``, which submitit
asks, needs accounting storage, which small clusters often lack): a job that left the queue
without a result died (cancelled, out of time or memory, node failure); its run is recorded
failed if the job had claimed it, and sent again if the job never started
(:func:`~spe_analysis.sweep.runner.settle_lost_task`).
"""
from __future__ import annotations

import contextlib
import io
import json
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Iterable, Iterator

from ...errors import SpeError, positive_int
from ..runner import Event, OnEvent, RunTask, execute, settle_lost_task

SLURM_INSTALL = 'pip install -e ".[slurm]"'
SUBMITIT_ARRAY_PARALLELISM = 256  # submitit's default
POLL = 0.5  # seconds between looks at result and progress files
QUEUE_POLL = 3.0  # seconds between squeue calls
# Job states in which a job may still write its result; any other state, or none, is final.
ACTIVE_STATES = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED",
                 "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED",
                 "RESV_DEL_HOLD", "SPECIAL_EXIT", "PREEMPTED"}


def parse_options(items: Iterable[str]) -> dict[str, str]:
    """``--slurm-option KEY=VALUE`` items as sbatch parameters (``KEY`` without dashes)."""
    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().lstrip("-")
        if not sep or not key:
            raise SpeError(f"--slurm-option must be KEY=VALUE (an sbatch option, e.g. qos=high), got {item!r}")
        options[key.replace("-", "_")] = value
    return options


def settings(options: dict) -> dict:
    """SlurmExecutor's keywords from sweep options (``slurm_time`` -> ``time``...)."""
    found = {key.removeprefix("slurm_"): value for key, value in options.items() if key.startswith("slurm_")}
    if "option" in found:
        found["options"] = {key: str(value) for key, value in found.pop("option").items()}
    return found


def _slurm_job(task: RunTask, progress: str) -> tuple[str, object]:
    """The job: one run, progress events appended to ``progress``."""
    # scancel sends SIGTERM, which submitit's job wrapper ignores (it waits for a requeue
    # signal); a run has no checkpoint to requeue from, so it stops at once and is rerun.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def emit(event: Event) -> None:
        with open(progress, "a", encoding="utf-8") as stream:
            stream.write(json.dumps(event) + "\n")
    try:
        return "done", execute(task, emit)
    except SpeError as exc:  # bad input: the sweep stops with this one line
        return "error", str(exc)


class _Submitted:
    """One submitted run: its job, progress file and how much of it was read."""

    def __init__(self, task: RunTask, job, progress: Path):
        self.task, self.job, self.progress, self.offset = task, job, progress, 0

    def events(self) -> list[Event]:
        try:
            with open(self.progress, encoding="utf-8") as stream:
                stream.seek(self.offset)
                text = stream.read()
        except FileNotFoundError:
            return []
        complete = text[:text.rfind("\n") + 1]  # a line being written waits for the next look
        self.offset += len(complete.encode())
        return [json.loads(line) for line in complete.splitlines()]


def active_jobs() -> set[str] | None:
    """Ids (``123`` or ``123_4``) of this user's jobs that are still active; None when
    squeue does not answer."""
    try:
        out = subprocess.run(["squeue", "--me", "--noheader", "--array", "--format=%i|%T"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode:
        return None
    return {job for job, _, state in (line.partition("|") for line in out.stdout.split())
            if state in ACTIVE_STATES}


class SlurmExecutor:
    """Each run one job of a submitit job array on the Slurm cluster that ``sbatch`` reaches.

    ``partition``, ``time`` (minutes), ``gpus`` (per job), ``cpus`` (per job, also the
    run's torch threads), ``mem`` (e.g. 8G), ``array_parallelism`` (jobs running at once)
    and ``options`` (any other sbatch option) go to submitit's SlurmExecutor.
    """

    def __init__(self, partition: str | None = None, time: int | None = None, gpus: int | None = None,
                 cpus: int | None = None, mem: str | None = None, array_parallelism: int | None = None,
                 options: dict[str, str] | None = None):
        try:
            import submitit
        except ImportError:
            raise SpeError(f"--executor slurm needs submitit, which is not installed: {SLURM_INSTALL}") from None
        if shutil.which("sbatch") is None:
            raise SpeError("--executor slurm needs Slurm, but sbatch is not on PATH")
        for name, value in (("--slurm-time", time), ("--slurm-cpus", cpus),
                            ("--slurm-array-parallelism", array_parallelism)):
            if value is not None:
                positive_int(name, value)
        if gpus is not None and (isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 0):
            raise SpeError(f"--slurm-gpus must be a non-negative integer, got {gpus!r}")
        self._submitit = submitit
        given = {"partition": partition, "gpus_per_node": gpus or None, "cpus_per_task": cpus, "mem": mem,
                 "array_parallelism": array_parallelism, "additional_parameters": options or None}
        # Unset: the partition's defaults.  time=None says so explicitly: left out, submitit
        # would ask for its own default of 5 minutes.
        self.parameters = {**{k: v for k, v in given.items() if v is not None}, "time": time,
                           "job_name": "spe-sweep"}
        self.slots = array_parallelism or SUBMITIT_ARRAY_PARALLELISM  # the most at once; Slurm decides
        self.threads = cpus or 1

    def _submit(self, tasks: list[RunTask]) -> list[_Submitted]:
        folder = Path(tasks[0].out_dir) / "slurm"
        (folder / "progress").mkdir(parents=True, exist_ok=True)
        executor = self._submitit.SlurmExecutor(folder=folder, max_num_timeout=0)
        try:
            executor.update_parameters(**self.parameters)
        except ValueError as exc:  # a bad option name; submitit lists every accepted one
            raise SpeError(f"bad Slurm option: {str(exc).splitlines()[0]}") from None
        progress = [folder / "progress" / f"{task.run_id}-{uuid.uuid4().hex[:8]}.jsonl" for task in tasks]
        try:  # submitit echoes sbatch's errors to stderr; they go into the one line instead
            with contextlib.redirect_stderr(io.StringIO()), executor.batch():
                jobs = [executor.submit(_slurm_job, task, str(path)) for task, path in zip(tasks, progress)]
        except Exception as exc:  # sbatch refused (bad partition, time, option...)
            lines = [line for line in str(exc).splitlines() if "error" in line.lower()] or str(exc).splitlines()
            raise SpeError(f"sbatch refused the jobs: {lines[0].strip() if lines else type(exc).__name__}") from None
        return [_Submitted(task, job, path) for task, job, path in zip(tasks, jobs, progress)]

    def run(self, tasks: Iterable[RunTask], emit: OnEvent) -> Iterator[tuple[RunTask, Event]]:
        tasks = list(tasks)
        if not tasks:
            return
        pending = self._submit(tasks)
        last_queue = time.monotonic()
        try:
            while pending:
                time.sleep(POLL)
                active = None
                if time.monotonic() - last_queue >= QUEUE_POLL:
                    active, last_queue = active_jobs(), time.monotonic()
                still = []
                for sub in pending:
                    for event in sub.events():
                        emit(event)
                    end = self._end(sub, active)
                    if end is None:
                        still.append(sub)
                    else:
                        sub.progress.unlink(missing_ok=True)
                        yield sub.task, end
                pending = still
        except BaseException:
            self._cancel([sub.job.job_id for sub in pending])
            raise

    def _end(self, sub: _Submitted, active: set[str] | None) -> Event | None:
        """The run's end event once its job is over, else None."""
        if sub.job.paths.result_pickle.exists():
            try:
                kind, payload = sub.job.result()
            except Exception as exc:  # submitit's own failure: the job's trace is in its log
                return settle_lost_task(sub.task, f"slurm job {sub.job.job_id} failed: "
                                       f"{str(exc).strip().splitlines()[-1]} (log: {sub.job.paths.stderr})")
            if kind == "error":
                raise SpeError(payload)
            return payload
        if active is None or sub.job.job_id in active:
            return None
        if sub.job.paths.result_pickle.exists():  # written just before it left the queue
            return self._end(sub, None)
        return settle_lost_task(sub.task, f"slurm job {sub.job.job_id} ended without a result "
                               f"(cancelled, out of time or memory?); log: {sub.job.paths.stderr}")

    @staticmethod
    def _cancel(job_ids: list[str]) -> None:
        if job_ids:
            subprocess.run(["scancel", *job_ids], capture_output=True, timeout=60)

    def close(self) -> None:
        pass
