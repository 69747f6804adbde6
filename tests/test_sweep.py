"""`spe sweep` end to end with the real trainer on digits (1 epoch, a small train subset):
the grid, resuming, a SIGKILL, SIGTERM or Ctrl-C in the middle, two sweeps on one directory,
dry runs.  Sweeps stopped mid-way run the gated trainer, so that exactly the runs a test lets
through have finished and the others are in flight when it signals."""
from __future__ import annotations

import collections
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import gated_trainer
from conftest import run_spe
from spe_analysis.records import finished_ids, load_records, read_record, runs_dir
from spe_analysis.sweep import build_spec, executors
from spe_analysis.sweep.runner import EVENT_LOG

# Each run trains on 128 digits images for one epoch: well under a second on a CPU core.
# One thread per run: on a busy machine two threads per run can be ten times slower.
FAST = ["--dataset", "digits", "--epochs", "1", "--train-subset", "128", "--threads", "1"]
GRID = ["--alpha-grid", "0,1", "--beta-grid", "0,1", "--seeds", "2"]


def expected_ids(alphas: str, betas: str, seeds: int) -> set[str]:
    spec = build_spec({"alpha_grid": alphas, "beta_grid": betas, "seeds": seeds, "dataset": "digits",
                       "epochs": 1, "train_subset": 128})
    return {c.run_id for c in spec.configs()}


def spe_process(*args, gate: tuple[Path, int] | None = None) -> subprocess.Popen:
    """``spe ARGS`` in its own process group (so that a test can kill the whole group).

    With ``gate`` (folder, n), only the first n runs train; later ones block (gated_trainer)."""
    code = "import sys; from spe_analysis.cli import main; main(sys.argv[1:])"
    argv, env = [sys.executable, "-c", code, *map(str, args)], dict(os.environ)
    if gate is not None:
        argv, env = gated_trainer.command(*args), gated_trainer.environment(*gate)
    return subprocess.Popen(argv, start_new_session=True, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_until(done, sweep: subprocess.Popen, timeout: float = 120) -> None:
    """Wait until ``done()`` while the sweep runs; fail if it ends first or after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not done():
        assert sweep.poll() is None, sweep.communicate()
        assert time.monotonic() < deadline, "the sweep got no further"
        time.sleep(0.05)


def wait_for_records(sweep: subprocess.Popen, out, count: int, timeout: float = 120) -> None:
    """Wait until a running sweep has written ``count`` records."""
    wait_until(lambda: len(finished_ids(out)) >= count, sweep, timeout)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def events(out) -> list[dict]:
    return [json.loads(line) for line in (out / EVENT_LOG).read_text().splitlines()]


def files(out) -> dict[str, tuple[int, bytes]]:
    return {str(p): (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(out.rglob("*"))
            if p.is_file() and p.name != EVENT_LOG}


def test_sweep_makes_the_grid_and_a_rerun_runs_and_rewrites_nothing(tmp_path):
    out = tmp_path / "D"
    dry = run_spe("sweep", *FAST, *GRID, "--out", out, "--dry-run")
    assert dry.code == 0, dry.stderr
    assert "8 runs: 4 cells x 2 seeds" in dry.stdout and 'alpha_grid = [' in dry.stdout
    assert not out.exists()  # a dry run writes nothing

    first = run_spe("sweep", *FAST, *GRID, "--out", out, "--workers", "1")
    assert first.code == 0, first.stderr
    records = load_records(out)
    assert len(records) == 8 and {r["run_id"] for r in records} == expected_ids("0,1", "0,1", 2)
    assert collections.Counter(r["config"]["pool"] for r in records) == {"mix": 6, "avg": 2}
    assert all(r["status"] == "ok" for r in records)
    assert "[8/8] ok" in first.stdout  # plain lines when stdout is not a terminal

    before = files(out)
    again = run_spe("sweep", *FAST, *GRID, "--out", out)
    assert again.code == 0, again.stderr
    assert "0 to run" in again.stdout
    assert files(out) == before

    dry = run_spe("sweep", *FAST, "--alpha-grid", "0,0.5,1", "--beta-grid", "0,1", "--seeds", "2",
                  "--out", out, "--dry-run")
    assert dry.code == 0 and "4 of 12 runs to run" in dry.stdout and "mean of 8 finished runs" in dry.stdout
    assert files(out) == before


def test_a_sigkilled_sweep_resumes_to_exactly_the_grid(tmp_path):
    out = tmp_path / "D"
    grid = ["--alpha-grid", "0,0.5,1", "--beta-grid", "0,1", "--seeds", "2"]  # 12 runs
    wanted = expected_ids("0,0.5,1", "0,1", 2)
    gate = tmp_path / "gate"
    sweep = spe_process("sweep", *FAST, *grid, "--out", out, "--workers", "2", "--fuse", "off",
                        gate=(gate, 3))
    try:  # 3 runs finish, then both workers are in the middle of a run
        wait_until(lambda: len(finished_ids(out)) == 3 and gated_trainer.in_flight(gate) == 2, sweep)
    finally:
        os.killpg(sweep.pid, signal.SIGKILL)  # the sweep and its worker processes
        sweep.wait()
    survivors = {p.name: p.read_bytes() for p in runs_dir(out).glob("*.json")}
    assert len(survivors) == 3

    resumed = run_spe("sweep", *FAST, *grid, "--out", out, "--workers", "1")
    assert resumed.code == 0, resumed.stderr
    records = [read_record(p) for p in runs_dir(out).glob("*.json")]
    assert all(r is not None and r["status"] == "ok" for r in records)  # every record parseable
    assert {r["run_id"] for r in records} == wanted
    assert all((runs_dir(out) / name).read_bytes() == data for name, data in survivors.items())
    # No run done twice: the survivors' records are untouched (above), every run finished at
    # most once, and each run the resume did is logged.  (A run killed between writing its
    # record and logging its end has a record and no end line: the record is what counts.)
    ends = collections.Counter(e["run_id"] for e in events(out) if e["event"] == "end")
    assert max(ends.values()) == 1 and set(ends) <= wanted
    resumed_ids = {p.stem for p in runs_dir(out).glob("*.json")} - {n.removesuffix(".json") for n in survivors}
    assert resumed_ids and resumed_ids <= set(ends)
    assert not list((out / "locks").glob("*.lock"))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_sigterm_or_ctrl_c_stops_the_workers_and_the_sweep_resumes(tmp_path, signum):
    """SIGTERM (from `timeout` or a scheduler) or SIGINT (Ctrl-C) to the sweep alone: exit 130,
    no worker left training; then the sweep resumes, after Ctrl-C from OUT/sweep.toml."""
    out, gate = tmp_path / "D", tmp_path / "gate"
    grid = ["--alpha-grid", "0,1", "--beta-grid", "0,1", "--seeds", "1"]  # 4 runs
    sweep = spe_process("sweep", *FAST, *grid, "--out", out, "--workers", "2", "--fuse", "off",
                        gate=(gate, 1))
    try:  # one run finished, both workers in the middle of a run
        wait_until(lambda: len(finished_ids(out)) == 1 and gated_trainer.in_flight(gate) == 2, sweep)
        sweep.send_signal(signum)
        assert sweep.wait(timeout=120) == 130
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(sweep.pid, signal.SIGKILL)
    workers = {e["pid"] for e in events(out) if e["event"] == "start"} - {sweep.pid}
    assert len(workers) == 2
    deadline = time.monotonic() + 120
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in workers)  # no orphan keeps training
    assert len(finished_ids(out)) == 1  # the runs in flight left no record
    if signum == signal.SIGINT:
        resumed = run_spe("sweep", "--config", out / "sweep.toml", "--out", out, "--workers", "1",
                          "--threads", "1")
    else:
        resumed = run_spe("sweep", *FAST, *grid, "--out", out, "--workers", "1")
    assert resumed.code == 0, resumed.stderr
    assert "3 to run" in resumed.stdout
    assert finished_ids(out) == expected_ids("0,1", "0,1", 1)


def test_two_sweeps_on_one_directory_run_every_run_once(tmp_path):
    out = tmp_path / "D"
    sweeps = [spe_process("sweep", *FAST, *GRID, "--out", out, "--workers", "1") for _ in range(2)]
    results = [s.communicate(timeout=300) for s in sweeps]
    assert [s.returncode for s in sweeps] == [0, 0], results
    wanted = expected_ids("0,1", "0,1", 2)
    assert {r["run_id"] for r in load_records(out)} == wanted
    log = events(out)
    for kind in ("start", "end"):
        done = collections.Counter(e["run_id"] for e in log if e["event"] == kind)
        assert set(done) == wanted and set(done.values()) == {1}, done


def test_auto_layout_shares_each_gpu_among_workers_and_gives_cpus_one_thread_each(monkeypatch):
    monkeypatch.setattr(executors, "cuda_devices", lambda device: 2 if device in ("auto", "cuda") else 0)
    workers, threads, indices = executors.local_layout("auto", "cuda", cpus=32)
    assert workers == 2 * executors.AUTO_WORKERS_PER_GPU and threads == 32 // workers
    assert indices == [0, 1] * executors.AUTO_WORKERS_PER_GPU  # worker i on GPU i mod 2
    assert executors.local_layout("auto", "cuda", cpus=2)[0] == 2  # at least one per GPU
    assert executors.local_layout(3, "cuda", cpus=32)[2] == [0, 1, 0]
    assert executors.local_layout("auto", "cpu", cpus=4) == (4, 1, [None] * 4)
