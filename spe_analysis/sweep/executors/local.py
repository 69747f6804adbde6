"""Local executors: one run at a time in this process, or N spawned worker processes."""
from __future__ import annotations

import contextlib
import multiprocessing
import signal
from collections import deque
from multiprocessing.connection import wait
from typing import Iterable, Iterator

from ...errors import SpeError
from ..runner import Event, OnEvent, RunTask, execute, settle_lost_task


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

    A worker that dies (killed, out of memory) is replaced; its runs are settled by
    :func:`~spe_analysis.sweep.runner.settle_lost_task` (a run it was training recorded failed).
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
                        yield worker.task, settle_lost_task(worker.task, why)
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
