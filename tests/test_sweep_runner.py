"""The sweep machinery with a stand-in trainer injected through ``run_sweep(trainer=...)``:
resume, failures, retries, widening, waiting for runs other sweeps hold, dead workers, lost
tasks; fused groups (``fuse`` > 1) run the same stand-in."""
from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from rich.console import Console

from spe_analysis.errors import SpeError
from spe_analysis.records import SCHEMA, load_records, read_record, record_path, utc_now, write_record
from spe_analysis.sweep import InProcessExecutor, ProcessExecutor, build_spec, run_sweep, runner
from spe_analysis.sweep.fusing import group_tasks, split_end
from spe_analysis.sweep.locks import HOST
from spe_analysis.sweep.runner import EVENT_LOG, RunTask, lock_path

FAIL_ALPHA, DIVERGE_ALPHA, DIE_ALPHA, BAD_INPUT_ALPHA = 0.5, 2.0, 3.0, 4.0
CALLS: list[str] = []


def fake_trainer(config, out_dir, *, device, data_dir, deterministic, threads, on_progress):
    """Writes a record like train_run does; fails, diverges or dies for chosen alphas."""
    CALLS.append(config.run_id)
    if config.alpha == FAIL_ALPHA and not os.environ.get("SPE_TEST_HEAL"):
        raise RuntimeError("synthetic failure")
    if config.alpha == DIE_ALPHA:
        os.kill(os.getpid(), signal.SIGKILL)
    if config.alpha == BAD_INPUT_ALPHA:
        raise SpeError("dataset files are missing")
    on_progress({"run_id": config.run_id, "epoch": 1, "epochs": 1, "step": 1, "steps": 1,
                 "train_loss": 1.0, "train_acc": 50.0, "test_acc": 60.0, "images_per_second": 1.0})
    status = "diverged" if config.alpha == DIVERGE_ALPHA else "ok"
    record = {"schema": SCHEMA, "run_id": config.run_id, "status": status, "config": config.to_dict(),
              "metrics": {"final_test_acc": 60.0, "train_seconds": 0.01}, "history": [],
              "env": {}, "started_at": utc_now(), "finished_at": utc_now(), "error": None}
    write_record(out_dir, record)
    return record


def spec(alphas="0,1", betas="0,1", seeds=2, **more):
    return build_spec({"alpha_grid": alphas, "beta_grid": betas, "seeds": seeds, "epochs": 1, **more})


def sweep(out, the_spec, executor=None, events=None, **kw):
    CALLS.clear()
    on_event = events.append if events is not None else None
    return run_sweep(the_spec, out, executor or InProcessExecutor(), trainer=fake_trainer,
                     on_event=on_event, **kw)


def snapshot(out):
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(out.rglob("*")) if p.is_file()
            and p.name != EVENT_LOG}


FUSE = pytest.mark.parametrize("fuse", [1, 3], ids=["unfused", "fused"])


@FUSE
def test_resume_runs_only_what_is_missing(tmp_path, fuse):
    the_spec = spec()
    wanted = {c.run_id for c in the_spec.configs()}
    events = []
    summary = sweep(tmp_path, the_spec, events=events, fuse=fuse)
    assert summary.counts["ok"] == 8 and summary.exit_code == 0
    assert sorted(CALLS) == sorted(wanted)  # the stand-in trained every run, fused groups too
    assert {r["run_id"] for r in load_records(tmp_path)} == wanted
    assert [e["event"] for e in events[:2]] == ["sweep", "start"] and events[-1]["event"] == "end"
    assert not list((tmp_path / "locks").glob("*.lock"))
    before = snapshot(tmp_path)
    again = sweep(tmp_path, the_spec, fuse=fuse)
    assert CALLS == [] and again.counts["skipped"] == 8 and again.exit_code == 0
    assert snapshot(tmp_path) == before  # nothing rewritten, sweep.toml included
    record_path(tmp_path, sorted(wanted)[0]).unlink()
    sweep(tmp_path, the_spec, fuse=fuse)
    assert CALLS == [sorted(wanted)[0]]


def test_widening_the_grid_runs_only_the_new_runs(tmp_path):
    sweep(tmp_path, spec(seeds=1))
    first = set(CALLS)
    wider = spec(alphas="0,1,1.5", seeds=2)
    sweep(tmp_path, wider)
    assert not first & set(CALLS)
    assert {r["run_id"] for r in load_records(tmp_path)} == {c.run_id for c in wider.configs()}
    stored = (tmp_path / "sweep.toml").read_text()
    assert "1.5" in stored


@FUSE
def test_failures_and_divergence_are_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch, fuse):
    the_spec = spec(alphas=f"0,{FAIL_ALPHA},{DIVERGE_ALPHA}", betas="1", seeds=1)
    summary = sweep(tmp_path, the_spec, fuse=fuse)
    assert summary.counts == {"ok": 2, "diverged": 1, "failed": 1, "skipped": 0}
    assert summary.exit_code == 1
    records = {r["config"]["alpha"]: r for r in load_records(tmp_path)}
    assert records[FAIL_ALPHA]["status"] == "failed"
    assert records[FAIL_ALPHA]["error"] == "RuntimeError: synthetic failure"
    assert records[DIVERGE_ALPHA]["status"] == "diverged"
    again = sweep(tmp_path, the_spec, fuse=fuse)  # failed runs stay failed (and the exit status says so)
    assert CALLS == [] and again.failed_before == 1 and again.exit_code == 1
    monkeypatch.setenv("SPE_TEST_HEAL", "1")
    retried = sweep(tmp_path, the_spec, retry_failed=True, fuse=fuse)
    assert CALLS == [records[FAIL_ALPHA]["run_id"]] and retried.exit_code == 0
    assert read_record(record_path(tmp_path, CALLS[0]))["status"] == "ok"


def test_bad_input_inside_a_run_stops_the_sweep(tmp_path):
    with pytest.raises(SpeError, match="dataset files are missing"):
        sweep(tmp_path, spec(alphas=str(BAD_INPUT_ALPHA), betas="1", seeds=1))


@contextlib.contextmanager
def another_sweep_holds(out, rid: str):
    """The lock of run ``rid`` held by another live sweep: a process on this host that
    outlives the test (killed on exit).  Yields the lock file."""
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    try:
        with open(f"/proc/{owner.pid}/stat") as fh:
            start = fh.read().rsplit(")", 1)[1].split()[19]
        lock = lock_path(out, rid)
        lock.parent.mkdir(parents=True, exist_ok=True)
        lock.write_text(json.dumps({"host": HOST, "pid": owner.pid, "start": start, "token": "x"}))
        yield lock
    finally:
        owner.kill()
        owner.wait()


def sweep_while_another_finishes(out, the_spec, held: str, executor=None, **kw):
    """Our sweep, while another live sweep holds run ``held`` and finishes it once ours waits
    for it (or ours ends).  Returns (summary, events, the held lock's content before our sweep
    and when the other one finished the run; None if the lock was gone)."""
    events, seen = [], []
    with another_sweep_holds(out, held) as lock:
        waiting = threading.Event()
        config = next(c for c in the_spec.configs() if c.run_id == held)

        def other_sweep_finishes():
            # Only once our sweep waits for the run does its owner finish it.
            if waiting.wait(timeout=120):
                seen.append(lock.read_text() if lock.exists() else None)
                fake_trainer(config, out, device="cpu", data_dir=None, deterministic=False, threads=1,
                             on_progress=lambda e: None)
                lock.unlink(missing_ok=True)

        def on_event(event):
            events.append(event)
            if event["event"] == "waiting":
                waiting.set()

        before = lock.read_text()
        finisher = threading.Thread(target=other_sweep_finishes)
        finisher.start()
        CALLS.clear()
        try:
            summary = run_sweep(the_spec, out, executor or InProcessExecutor(), trainer=fake_trainer,
                                on_event=on_event, **kw)
        finally:
            waiting.set()
            finisher.join()
    return summary, events, [before, *seen]


def test_a_run_held_by_a_live_sweep_is_waited_for_not_run(tmp_path):
    the_spec = spec(alphas="1", betas="1", seeds=1)
    held = the_spec.configs()[1].run_id
    summary, events, _ = sweep_while_another_finishes(tmp_path, the_spec, held)
    assert summary.counts["ok"] == 1 and summary.counts["skipped"] == 1
    assert any(e["event"] == "waiting" and e["run_ids"] == [held] for e in events)
    assert {r["run_id"] for r in load_records(tmp_path)} == {c.run_id for c in the_spec.configs()}


class LosingExecutor(InProcessExecutor):
    """Loses every task of its first ``times`` passes before it runs (as a Ray task lost
    before it started, or a Slurm job cancelled while pending), then runs them."""

    def __init__(self, times: int = 1):
        super().__init__()
        self.times, self.passes = times, 0

    def run(self, tasks, emit):
        self.passes += 1
        for task in tasks:
            if self.passes <= self.times:
                yield task, runner.settle_lost_task(task, "lost before it ran")
            else:
                yield task, runner.execute(task, emit)


@FUSE
def test_a_lost_task_leaves_runs_it_never_claimed_alone_and_sends_them_again(tmp_path, fuse):
    """Issue 21 (1): a task lost before it ran neither fails its runs nor frees the lock of a
    run another sweep holds; that run is waited for, the others are sent again."""
    the_spec = spec(alphas="1", betas="1", seeds=1)
    held = the_spec.configs()[0].run_id
    summary, events, seen = sweep_while_another_finishes(tmp_path, the_spec, held, LosingExecutor(), fuse=fuse)
    assert seen[1] == seen[0]  # the other sweep's lock stood untouched until it finished the run
    assert summary.counts == {"ok": 1, "diverged": 0, "failed": 0, "skipped": 1} and summary.exit_code == 0
    assert not any(e["event"] == "end" and e["status"] == "failed" for e in events)
    assert {e["run_id"] for e in events if e["event"] == "end"} == {c.run_id for c in the_spec.configs()}
    assert all(r["status"] == "ok" for r in load_records(tmp_path)) and len(load_records(tmp_path)) == 2
    assert not list((tmp_path / "locks").glob("*.lock"))


def test_a_run_whose_task_is_always_lost_is_reported_failed_but_not_recorded(tmp_path):
    the_spec = spec(alphas="1", betas="1", seeds=1)
    executor = LosingExecutor(times=runner.LOST_TRIES)
    summary = sweep(tmp_path, the_spec, executor)
    assert summary.counts["failed"] == 2 and summary.exit_code == 1
    assert {why for _, why in summary.failed_runs} == {"lost before it ran"}
    assert executor.passes == runner.LOST_TRIES
    assert load_records(tmp_path) == [] and CALLS == []  # the next sweep runs them


def test_a_worker_dying_in_a_fused_group_fails_only_the_run_it_was_training(tmp_path):
    """Issue 21 (1): of a fused group whose worker died, the run another sweep holds keeps its
    lock and gets no record; the run trained before the death keeps its record."""
    the_spec = spec(alphas=f"1,{DIE_ALPHA}", betas="1", seeds=1)  # avg, mix 1, mix 3: one group
    configs = the_spec.configs()
    held, done, dies = (c.run_id for c in configs)
    executor = ProcessExecutor(1, 1, [None])
    try:
        with another_sweep_holds(tmp_path, held) as lock:
            before = lock.read_text()
            tasks = group_tasks([RunTask(c.to_dict(), str(tmp_path), trainer=fake_trainer) for c in configs], 3)
            assert len(tasks) == 1
            ends = {end["run_id"]: end for result in executor.run(tasks, lambda e: None)
                    for _, end in split_end(*result)}
            assert lock.read_text() == before
    finally:
        executor.close()
    assert {rid: end["status"] for rid, end in ends.items()} == {held: "busy", done: "ok", dies: "failed"}
    assert "worker process died" in ends[dies]["error"]
    assert read_record(record_path(tmp_path, held)) is None
    assert read_record(record_path(tmp_path, dies))["status"] == "failed"
    assert read_record(record_path(tmp_path, done))["status"] == "ok"
    assert [p.name for p in (tmp_path / "locks").glob("*.lock")] == [f"{held}.lock"]


def test_a_run_whose_owner_died_is_taken_over(tmp_path):
    the_spec = spec(alphas="1", betas="1", seeds=1)
    orphan = the_spec.configs()[0].run_id
    lock = lock_path(tmp_path, orphan)
    lock.parent.mkdir(parents=True)
    lock.write_text(json.dumps({"host": HOST, "pid": 2 ** 22 + 1, "start": "1", "token": "x"}))
    summary = sweep(tmp_path, the_spec)
    assert summary.counts["ok"] == 2 and orphan in CALLS


@FUSE
def test_a_worker_process_that_dies_fails_its_run_only(tmp_path, fuse):
    the_spec = spec(alphas=f"0,{DIE_ALPHA}", betas="1", seeds=1)
    executor = ProcessExecutor(2, 1, [None, None])
    try:
        summary = sweep(tmp_path, the_spec, executor, fuse=fuse)
    finally:
        executor.close()
    assert summary.counts["ok"] == 2 and summary.counts["failed"] == 1
    records = {r["config"]["alpha"]: r for r in load_records(tmp_path)}
    assert records[DIE_ALPHA]["status"] == "failed" and "worker process died" in records[DIE_ALPHA]["error"]
    assert not list((tmp_path / "locks").glob("*.lock"))


def test_live_display_renders_every_event(tmp_path):
    from spe_analysis.cli.sweep import _Display

    the_spec = spec(alphas=f"1,{FAIL_ALPHA}", betas="1", seeds=1)
    labels = {c.run_id: c.pool for c in the_spec.configs()}
    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    with _Display(console, labels, quiet=False) as display:
        run_sweep(the_spec, tmp_path, InProcessExecutor(), trainer=fake_trainer, on_event=display)
    text = console.file.getvalue()
    assert "failed" in text and "RuntimeError: synthetic failure" in text
