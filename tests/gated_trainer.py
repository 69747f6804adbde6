"""A trainer for `spe sweep` processes that tests stop mid-sweep: the first N runs train for
real, every later run blocks until its process is killed.  A test then knows exactly how many
records land and that runs are in flight when it signals, however fast the machine is.

The sweep process installs it (see :func:`command`); worker processes find it by import
(spawned workers inherit ``sys.path``; Slurm jobs get it through ``PYTHONPATH``, see
:func:`environment`) and read the gate from the environment.  :func:`pass_gate` gates any
other trainer the same way.
"""
from __future__ import annotations

import functools
import os
import sys
import time
from pathlib import Path

GATE = "SPE_TEST_GATE"  # "FOLDER:N": tickets and in-flight markers go to FOLDER
TESTS = Path(__file__).resolve().parent


def pass_gate() -> None:
    """Return if this run is among the first N to ask; else mark it in flight and block until
    its process is killed."""
    folder, limit = os.environ[GATE].rsplit(":", 1)
    ticket = 0
    while True:  # the next free ticket, taken atomically across processes
        try:
            os.close(os.open(Path(folder) / f"ticket-{ticket}", os.O_CREAT | os.O_EXCL))
            break
        except FileExistsError:
            ticket += 1
    if ticket < int(limit):
        return
    (Path(folder) / f"in-flight-{os.getpid()}").touch()
    while True:  # until the test stops the sweep
        time.sleep(1)


def gated_train(config, out_dir, **kwargs):
    pass_gate()
    from spe_analysis.training.run import train_run

    return train_run(config, out_dir, **kwargs)


def install() -> None:
    """Make this process's `spe sweep` use :func:`gated_train`; Ctrl-C raises KeyboardInterrupt
    as in a terminal even when the test runner was started with SIGINT ignored."""
    import signal

    import spe_analysis.sweep as sweep  # `spe sweep` imports run_sweep from here when it runs

    signal.signal(signal.SIGINT, signal.default_int_handler)
    sweep.run_sweep = functools.partial(sweep.run_sweep, trainer=gated_train)


def command(*args) -> list[str]:
    """argv of a Python process running ``spe ARGS`` with the gated trainer."""
    code = (f"import sys; sys.path.insert(0, {str(TESTS)!r}); import gated_trainer; "
            "gated_trainer.install(); from spe_analysis.cli import main; main(sys.argv[1:])")
    return [sys.executable, "-c", code, *map(str, args)]


def environment(folder: Path, limit: int) -> dict[str, str]:
    """The environment of a gated sweep: the gate, and this folder importable by any process
    it starts (local workers, Slurm jobs)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))
    return {**os.environ, GATE: f"{folder}:{limit}", "PYTHONPATH": path}


def in_flight(folder: Path) -> int:
    return len(list(folder.glob("in-flight-*")))
