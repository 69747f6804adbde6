"""`spe sweep` options through the command line itself, with the stand-in trainer of
test_sweep_runner (one process, --workers 1): --force, --retry-failed and exit status 1,
--stale-after, --include-zero, resuming with --config OUT/sweep.toml."""
from __future__ import annotations

import json
import os
import time

import pytest

from conftest import assert_usage_error, run_spe
from spe_analysis.records import load_records, record_path
from spe_analysis.sweep import build_spec, runner
from spe_analysis.sweep.runner import lock_path
from test_sweep_runner import CALLS, FAIL_ALPHA, fake_trainer

GRID = ["--alpha-grid", "0,1", "--beta-grid", "0,1", "--seeds", "1", "--epochs", "1",
        "--workers", "1", "--device", "cpu"]  # on CPU no runs are fused: each one is a call


@pytest.fixture(autouse=True)
def stand_in_trainer(monkeypatch):
    monkeypatch.setattr(runner, "_default_trainer", lambda: fake_trainer)
    CALLS.clear()


def cells(out) -> set[tuple]:
    return {(r["config"]["pool"], r["config"]["alpha"], r["config"]["beta"], r["config"]["epochs"])
            for r in load_records(out)}


def test_a_sweep_with_other_hyperparameters_is_refused_unless_forced(tmp_path):
    assert run_spe("sweep", *GRID, "--out", tmp_path).code == 0
    other = [*GRID, "--epochs", "2"]
    assert_usage_error(run_spe("sweep", *other, "--out", tmp_path), "different sweep", "epochs",
                       "--force")
    assert len(load_records(tmp_path)) == 4 and len(CALLS) == 4  # the refusal ran nothing
    forced = run_spe("sweep", *other, "--out", tmp_path, "--force")
    assert forced.code == 0, forced.stderr
    assert cells(tmp_path) == {(p, a, b, e) for e in (1, 2) for p, a, b in
                               [("avg", None, None), ("mix", 0.0, 1.0), ("mix", 1.0, 0.0),
                                ("mix", 1.0, 1.0)]}


def test_a_failed_run_exits_1_and_retry_failed_runs_it_again(tmp_path, monkeypatch):
    grid = [*GRID, "--alpha-grid", f"1,{FAIL_ALPHA}", "--beta-grid", "1", "--out", tmp_path]
    first = run_spe("sweep", *grid)
    assert first.code == 1, first.stderr
    (failed,) = [r for r in load_records(tmp_path) if r["status"] == "failed"]
    assert failed["config"]["alpha"] == FAIL_ALPHA
    assert "RuntimeError: synthetic failure" in first.stdout
    CALLS.clear()
    again = run_spe("sweep", *grid)  # a failed run stays failed, and so does the exit status
    assert again.code == 1 and CALLS == [] and "--retry-failed" in again.stdout
    monkeypatch.setenv("SPE_TEST_HEAL", "1")
    retried = run_spe("sweep", *grid, "--retry-failed")
    assert retried.code == 0, retried.stdout
    assert CALLS == [failed["run_id"]]
    assert all(r["status"] == "ok" for r in load_records(tmp_path))


class Waited(Exception):
    """The sweep began to wait for a run that another sweep holds."""


class NoWaiting:
    """The time module, except that sleeping (the sweep's wait for a held run) raises Waited."""

    def __getattr__(self, name):
        return getattr(time, name)

    def sleep(self, seconds):
        raise Waited


def test_stale_after_frees_another_hosts_lock_after_that_many_seconds(tmp_path, monkeypatch):
    grid = [*GRID, "--alpha-grid", "1", "--beta-grid", "1", "--out", tmp_path]
    held = build_spec({"alpha_grid": "1", "beta_grid": "1", "seeds": 1, "epochs": 1}).configs()[0].run_id
    lock = lock_path(tmp_path, held)
    lock.parent.mkdir(parents=True)
    lock.write_text(json.dumps({"host": "elsewhere", "pid": 1, "token": "theirs"}))
    old = time.time() - 120  # its owner stopped refreshing it two minutes ago
    os.utime(lock, (old, old))

    monkeypatch.setattr(runner, "time", NoWaiting())
    with pytest.raises(Waited):  # not stale yet after an hour's limit: the sweep waits
        run_spe("sweep", *grid, "--stale-after", "3600")
    assert held not in CALLS
    taken = run_spe("sweep", *grid, "--stale-after", "60")
    assert taken.code == 0, taken.stderr
    assert held in CALLS and record_path(tmp_path, held).is_file() and not lock.exists()


def test_include_zero_adds_the_constant_cell(tmp_path):
    assert run_spe("sweep", *GRID, "--out", tmp_path / "without").code == 0
    assert ("mix", 0.0, 0.0, 1) not in cells(tmp_path / "without")
    assert run_spe("sweep", *GRID, "--include-zero", "--out", tmp_path / "with").code == 0
    assert cells(tmp_path / "with") == cells(tmp_path / "without") | {("mix", 0.0, 0.0, 1)}


def test_config_out_sweep_toml_resumes_the_same_sweep(tmp_path):
    grid = [*GRID, "--alpha-grid", "0,1,1.5", "--seeds", "2", "--out", tmp_path]
    assert run_spe("sweep", *grid, "--train-subset", "64").code == 0
    records = load_records(tmp_path)
    assert len(records) == 12
    lost = sorted(r["run_id"] for r in records)[::5]
    for rid in lost:
        record_path(tmp_path, rid).unlink()
    spec = (tmp_path / "sweep.toml").read_text()
    CALLS.clear()
    resumed = run_spe("sweep", "--config", tmp_path / "sweep.toml", "--out", tmp_path,
                      "--workers", "1")
    assert resumed.code == 0, resumed.stderr
    assert sorted(CALLS) == lost  # exactly the missing runs, with the same run ids
    assert (tmp_path / "sweep.toml").read_text() == spec
