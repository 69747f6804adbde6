"""The Ray executor: each run a Ray task (``ray_cluster`` so as not to shadow ``ray``)."""
from __future__ import annotations

import logging
import os
from typing import Iterable, Iterator

from ...errors import SpeError
from ..runner import Event, OnEvent, RunTask, execute, settle_lost_task

RAY_INSTALL = 'pip install -e ".[ray]"'


def _ray_execute(task: RunTask, queue) -> Event:
    """The Ray task: one run, progress events through a Ray queue."""
    return execute(task, lambda event: queue.put_nowait(event))


class RayExecutor:
    """Each run a Ray task on the cluster at ``address`` (None: start a local one).

    Workers write records straight into the sweep directory, so it must be on storage that
    every node of the cluster shares.  A task lost before it claimed its run is sent again
    (settle_lost_task), so a run another sweep holds is never marked failed here.
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
                # Ray turns token authentication on in a driver only for a cluster it finds
                # itself (auto); for an explicit address the environment must say so.
                hint = ("; a cluster with token authentication needs RAY_AUTH_MODE=token and its token "
                        "(docs/reference.md)" if address not in (None, "auto") and "RAY_AUTH_MODE" not in os.environ
                        else "")
                raise SpeError(f"cannot start or reach Ray at {address or 'a new local cluster'}: "
                               f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}{hint}") from None
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
                        end = settle_lost_task(task, f"ray task failed: {type(exc.cause).__name__}: {exc.cause}")
                    except ray.exceptions.RayError as exc:
                        end = settle_lost_task(task, f"ray task lost: {type(exc).__name__}")
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
