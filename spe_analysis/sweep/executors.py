"""Where runs execute: in this process, in N local worker processes, or as Ray tasks.

Every executor has ``slots`` (runs at once), ``threads`` (torch threads per run) and
``run(tasks, emit)``, a generator of ``(task, end_event)`` pairs in completion order that
forwards the workers' progress events to ``emit`` on the calling thread.  Each task runs
:func:`~spe_analysis.sweep.runner.execute`, which claims the run, so executors never need
to coordinate with each other.
"""
from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
from collections import deque
from multiprocessing.connection import wait
from typing import Iterable, Iterator

from ..errors import SpeError
from .runner import Event, OnEvent, RunTask, execute, record_lost_run

# What --workers auto does on a CPU.  "processes": one single-threaded worker per core;
# "threads": one worker using every core.  benchmarks/bench_workers.py, resnet20 on digits,
# 2 shared cores: processes 1.9x the throughput of threads (median of 5), and steady where
# two threads per run slowed 3x whenever another program wanted a core.
AUTO_CPU_LAYOUT = "processes"
# What --workers auto starts per CUDA device.  A CIFAR ResNet-20 step is bound by kernel
# launches (about 10 ms at batch 128 on an H200), so runs sharing a GPU fill each other's
# gaps: bench_workers.py --device cuda gave 4 per GPU 2.5x the runs per minute of 1.
AUTO_WORKERS_PER_GPU = 4
RAY_INSTALL = 'pip install -e ".[ray]"'


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


class InProcessExecutor:
    """Runs one run at a time in this process: no start-up cost, the default for one worker."""

    slots = 1

    def __init__(self, threads: int | None = None):
        self.threads = threads

    def run(self, tasks: Iterable[RunTask], emit: OnEvent) -> Iterator[tuple[RunTask, Event]]:
        for task in tasks:
            yield task, execute(task, emit)

    def close(self) -> None:
        pass


def _worker_main(conn, threads: int | None, cuda_index: int | None) -> None:
    """A local worker process: run the tasks it is sent until it is sent None."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    import torch

    if threads:
        torch.set_num_threads(threads)
    if cuda_index is not None:
        torch.cuda.set_device(cuda_index)  # device "cuda" now means this worker's own GPU
    while True:
        try:
            task = conn.recv()
        except EOFError:  # the parent is gone
            return
        if task is None:
            return
        try:
            end = execute(task, lambda event: conn.send(("event", event)))
        except SpeError as exc:
            conn.send(("error", str(exc)))
        else:
            conn.send(("done", end))


class _Worker:
    def __init__(self, context, threads: int | None, cuda_index: int | None):
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_worker_main, args=(child, threads, cuda_index),
                                       daemon=True)
        self.process.start()
        child.close()
        self.task: RunTask | None = None


class ProcessExecutor:
    """N worker processes (spawned, so CUDA and threads start clean), kept across passes.

    A worker that dies (killed, out of memory) has its run recorded as failed and is replaced.
    """

    def __init__(self, workers: int, threads: int, cuda_indices: list[int | None]):
        self.slots, self.threads, self._cuda = workers, threads, cuda_indices
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []

    def _spawn(self, slot: int) -> _Worker:
        return _Worker(self._context, self.threads, self._cuda[slot])

    def run(self, tasks: Iterable[RunTask], emit: OnEvent) -> Iterator[tuple[RunTask, Event]]:
        pending = deque(tasks)
        while len(self._workers) < min(self.slots, len(pending)):
            self._workers.append(self._spawn(len(self._workers)))
        try:
            while pending or any(w.task is not None for w in self._workers):
                for slot, worker in enumerate(self._workers):
                    if worker.task is None and pending:
                        if not worker.process.is_alive():  # died while idle
                            worker = self._workers[slot] = self._spawn(slot)
                        worker.task = pending.popleft()
                        worker.conn.send(worker.task)
                busy = [w for w in self._workers if w.task is not None]
                wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
                for slot, worker in enumerate(self._workers):
                    if worker.task is None:
                        continue
                    yield from self._receive(worker, emit)
                    if worker.task is not None and not worker.process.is_alive():
                        why = f"worker process died (exit code {worker.process.exitcode}; killed or out of memory?)"
                        yield worker.task, record_lost_run(worker.task, why)
                        self._workers[slot] = self._spawn(slot)
        except BaseException:
            self.close()
            raise

    def _receive(self, worker: _Worker, emit: OnEvent) -> Iterator[tuple[RunTask, Event]]:
        while worker.task is not None and worker.conn.poll():
            try:
                kind, payload = worker.conn.recv()
            except (EOFError, OSError):
                return
            if kind == "event":
                emit(payload)
            elif kind == "done":
                task, worker.task = worker.task, None
                yield task, payload
            else:
                raise SpeError(payload)

    def close(self) -> None:
        for worker in self._workers:
            if worker.process.is_alive():
                if worker.task is None:
                    with contextlib.suppress(OSError):
                        worker.conn.send(None)
                else:
                    worker.process.terminate()  # its lock is freed by its owner being dead
        for worker in self._workers:
            worker.process.join(timeout=10)
        self._workers = []


def _ray_execute(task: RunTask, queue) -> Event:
    """The Ray task: one run, progress events through a Ray queue."""
    return execute(task, lambda event: queue.put_nowait(event))


class RayExecutor:
    """Each run a Ray task on the cluster at ``address`` (None: start a local one).

    Workers write records straight into the sweep directory, so it must be on storage that
    every node of the cluster shares.
    """

    def __init__(self, address: str | None = None, num_cpus: float = 1, num_gpus: float = 0):
        try:
            import ray
        except ImportError:
            raise SpeError(f"--executor ray needs Ray, which is not installed: {RAY_INSTALL}") from None
        if num_cpus <= 0 or num_gpus < 0:
            raise SpeError(f"--num-cpus must be positive and --num-gpus not negative, got {num_cpus}, {num_gpus}")
        self._ray, self._started = ray, False
        if not ray.is_initialized():
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False,
                         logging_level=logging.WARNING)
            except Exception as exc:  # Ray's own errors: unreachable address, bad options
                raise SpeError(f"cannot start or reach Ray at {address or 'a new local cluster'}: "
                               f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
            self._started = True
        self.num_cpus, self.num_gpus = num_cpus, num_gpus
        self.slots = max(1, int(ray.cluster_resources().get("CPU", 1) // num_cpus))
        self.threads = max(1, int(num_cpus))

    def run(self, tasks: Iterable[RunTask], emit: OnEvent) -> Iterator[tuple[RunTask, Event]]:
        ray = self._ray
        from ray.util.queue import Queue

        queue = Queue(actor_options={"num_cpus": 0})
        remote = ray.remote(_ray_execute).options(num_cpus=self.num_cpus, num_gpus=self.num_gpus,
                                                  max_retries=0)
        submitted = {remote.remote(task, queue): task for task in tasks}
        pending = list(submitted)
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=len(pending), timeout=0.2)
                for event in queue.get_nowait_batch(queue.qsize()):
                    emit(event)
                for ref in ready:
                    task = submitted[ref]
                    try:
                        end = ray.get(ref)
                    except ray.exceptions.RayTaskError as exc:
                        if isinstance(exc.cause, SpeError):
                            raise SpeError(str(exc.cause)) from None
                        end = record_lost_run(task, f"ray task failed: {type(exc.cause).__name__}: {exc.cause}")
                    except ray.exceptions.RayError as exc:
                        end = record_lost_run(task, f"ray task lost: {type(exc).__name__}")
                    yield task, end
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        finally:
            queue.shutdown()

    def close(self) -> None:
        if self._started:
            self._ray.shutdown()


def make_executor(executor: str = "local", *, workers: int | str = 1, device: str = "auto",
                  threads: int | None = None, ray_address: str | None = None,
                  num_cpus: float = 1, num_gpus: float = 0):
    """The executor for ``--executor`` and its options."""
    if executor == "ray":
        return RayExecutor(ray_address, num_cpus, num_gpus)
    if executor != "local":
        raise SpeError(f"unknown executor {executor!r}; accepted: local, ray")
    from ..training import pick_device

    pick_device(device)  # refuse an unknown or absent device before any run starts
    workers, threads, cuda = local_layout(workers, device, threads)
    if workers == 1:
        return InProcessExecutor(threads)
    return ProcessExecutor(workers, threads, cuda)
