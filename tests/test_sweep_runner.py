"""The sweep machinery with a stand-in trainer injected through ``run_sweep(trainer=...)``:
resume, failures, retries, widening, waiting for runs other sweeps hold, dead workers."""
from __future__ import annotations

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
from spe_analysis.sweep import InProcessExecutor, ProcessExecutor, build_spec, run_sweep
from spe_analysis.sweep.locks import HOST
from spe_analysis.sweep.runner import EVENT_LOG, lock_path

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


def test_resume_runs_only_what_is_missing(tmp_path):
    the_spec = spec()
    wanted = {c.run_id for c in the_spec.configs()}
    events = []
    summary = sweep(tmp_path, the_spec, events=events)
    assert summary.counts["ok"] == 8 and summary.exit_code == 0
    assert {r["run_id"] for r in load_records(tmp_path)} == wanted
    assert [e["event"] for e in events[:4]] == ["sweep", "start", "progress", "end"]
    assert not list((tmp_path / "locks").glob("*.lock"))
    before = snapshot(tmp_path)
    again = sweep(tmp_path, the_spec)
    assert CALLS == [] and again.counts["skipped"] == 8 and again.exit_code == 0
    assert snapshot(tmp_path) == before  # nothing rewritten, sweep.toml included
    record_path(tmp_path, sorted(wanted)[0]).unlink()
    sweep(tmp_path, the_spec)
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


def test_failures_and_divergence_are_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch):
    the_spec = spec(alphas=f"0,{FAIL_ALPHA},{DIVERGE_ALPHA}", betas="1", seeds=1)
    summary = sweep(tmp_path, the_spec)
    assert summary.counts == {"ok": 2, "diverged": 1, "failed": 1, "skipped": 0}
    assert summary.exit_code == 1
    records = {r["config"]["alpha"]: r for r in load_records(tmp_path)}
    assert records[FAIL_ALPHA]["status"] == "failed"
    assert records[FAIL_ALPHA]["error"] == "RuntimeError: synthetic failure"
    assert records[DIVERGE_ALPHA]["status"] == "diverged"
    again = sweep(tmp_path, the_spec)  # failed runs stay failed (and the exit status says so)
    assert CALLS == [] and again.failed_before == 1 and again.exit_code == 1
    monkeypatch.setenv("SPE_TEST_HEAL", "1")
    retried = sweep(tmp_path, the_spec, retry_failed=True)
    assert CALLS == [records[FAIL_ALPHA]["run_id"]] and retried.exit_code == 0
    assert read_record(record_path(tmp_path, CALLS[0]))["status"] == "ok"


def test_bad_input_inside_a_run_stops_the_sweep(tmp_path):
    with pytest.raises(SpeError, match="dataset files are missing"):
        sweep(tmp_path, spec(alphas=str(BAD_INPUT_ALPHA), betas="1", seeds=1))


def test_a_run_held_by_a_live_sweep_is_waited_for_not_run(tmp_path):
    the_spec = spec(alphas="1", betas="1", seeds=1)
    held = the_spec.configs()[1].run_id
    # The lock's owner: a live process on this host that outlives the test (killed below).
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    try:
        with open(f"/proc/{owner.pid}/stat") as fh:
            start = fh.read().rsplit(")", 1)[1].split()[19]
        lock = lock_path(tmp_path, held)
        lock.parent.mkdir(parents=True)
        lock.write_text(json.dumps({"host": HOST, "pid": owner.pid, "start": start, "token": "x"}))
        waiting = threading.Event()

        def other_sweep_finishes():
            # Only once our sweep waits for the run does its owner finish it.
            if waiting.wait(timeout=120):
                fake_trainer(the_spec.configs()[1], tmp_path, device="cpu", data_dir=None,
                             deterministic=False, threads=1, on_progress=lambda e: None)
                lock.unlink()

        def on_event(event):
            events.append(event)
            if event["event"] == "waiting":
                waiting.set()

        finisher = threading.Thread(target=other_sweep_finishes)
        finisher.start()
        events = []
        CALLS.clear()
        summary = run_sweep(the_spec, tmp_path, InProcessExecutor(), trainer=fake_trainer,
                            on_event=on_event)
        finisher.join()
    finally:
        owner.kill()
        owner.wait()
    assert summary.counts["ok"] == 1 and summary.counts["skipped"] == 1
    assert any(e["event"] == "waiting" and e["run_ids"] == [held] for e in events)
    assert {r["run_id"] for r in load_records(tmp_path)} == {c.run_id for c in the_spec.configs()}


def test_a_run_whose_owner_died_is_taken_over(tmp_path):
    the_spec = spec(alphas="1", betas="1", seeds=1)
    orphan = the_spec.configs()[0].run_id
    lock = lock_path(tmp_path, orphan)
    lock.parent.mkdir(parents=True)
    lock.write_text(json.dumps({"host": HOST, "pid": 2 ** 22 + 1, "start": "1", "token": "x"}))
    summary = sweep(tmp_path, the_spec)
    assert summary.counts["ok"] == 2 and orphan in CALLS


def test_a_worker_process_that_dies_fails_its_run_only(tmp_path):
    the_spec = spec(alphas=f"0,{DIE_ALPHA}", betas="1", seeds=1)
    executor = ProcessExecutor(2, 1, [None, None])
    try:
        summary = sweep(tmp_path, the_spec, executor)
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
