"""`spe sweep --until-decided` end to end with a stand-in trainer whose accuracies are fixed per
(cell, seed): cells stop early, the baseline runs while any cell is open, a rerun is a no-op,
a SIGKILL in the middle resumes to the same records, and `spe stats` replays the design."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import gated_trainer
from conftest import assert_usage_error, run_spe
from spe_analysis.plots import load_sweep
from spe_analysis.records import SCHEMA, finished_ids, load_records, utc_now, write_record
from spe_analysis.sweep import build_spec
from spe_analysis.sweep.spec import read_spec

TESTS = Path(__file__).resolve().parent
SHIFT = {(0.0, 1.0): 0.1, (1.0, 0.0): -0.2, (1.0, 1.0): -10.0}  # (1, 1) is clearly worse
CELLS = ["--dataset", "digits", "--epochs", "1", "--alpha-grid", "0,1", "--beta-grid", "0,1", "--workers", "1",
         "--quiet"]
GRID = [*CELLS, "--until-decided", "--looks", "2,4,6"]


def fixed_accuracy(config) -> float:
    """The same accuracy for the same (cell, seed) in any process: SD 0.5 around 90 + shift."""
    key = (config.alpha, config.beta) if config.pool == "mix" else (None, None)
    noise = np.random.default_rng([config.seed, 7 if key[0] is None else int(10 + 10 * key[0] + key[1])])
    return 90.0 + SHIFT.get(key, 0.0) + float(noise.normal(0, 0.5))


def stand_in_trainer(config, out_dir, **_):
    record = {"schema": SCHEMA, "run_id": config.run_id, "status": "ok", "config": config.to_dict(),
              "metrics": {"final_test_acc": fixed_accuracy(config), "train_seconds": 0.01}, "history": [],
              "env": {}, "started_at": utc_now(), "finished_at": utc_now(), "error": None}
    write_record(out_dir, record)
    return record


def gated_stand_in(config, out_dir, **kw):
    """The stand-in behind the gate: the first N runs finish, later ones block (gated_trainer)."""
    gated_trainer.pass_gate()
    return stand_in_trainer(config, out_dir, **kw)


@pytest.fixture
def trained(monkeypatch):
    import spe_analysis.training as training
    monkeypatch.setattr(training, "train_run", stand_in_trainer)


def outcome(out) -> dict:
    """(pool, alpha, beta, seed) -> accuracy of every record."""
    return {(r["config"]["pool"], r["config"]["alpha"], r["config"]["beta"], r["config"]["seed"]):
            r["metrics"]["final_test_acc"] for r in load_records(out)}


def test_cells_stop_early_and_stats_replays_the_design(tmp_path, trained):
    out = tmp_path / "D"
    dry = run_spe("sweep", *GRID, "--out", out, "--dry-run")
    assert dry.code == 0, dry.stderr
    assert "looks at 2, 4, 6 seeds per arm" in dry.stdout and "at most 24" in dry.stdout
    assert "24 runs: 4 cells x up to 6 seeds" in dry.stdout
    assert not out.exists()

    first = run_spe("sweep", *GRID, "--out", out)
    assert first.code == 0, first.stderr
    seeds = {}
    for pool, alpha, beta, seed in outcome(out):
        seeds.setdefault((pool, alpha, beta), set()).add(seed)
    assert seeds[("mix", 1.0, 1.0)] == {0, 1, 2, 3}  # worse, stopped at look 2 of 3
    assert seeds[("avg", None, None)] == set(range(6))  # the baseline ran while cells were open
    assert "mix alpha=1 beta=1: worse at look 2 (4 seeds)" in first.stdout
    spec = read_spec(out)
    assert spec.until_decided and spec.looks == [2, 4, 6] and spec.seeds == list(range(6))

    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.json")}
    again = run_spe("sweep", *GRID, "--out", out)  # done: runs nothing, rewrites nothing
    assert again.code == 0 and {p: p.stat().st_mtime_ns for p in out.rglob("*.json")} == before
    assert (out / "sweep.toml").read_text() == spec.to_toml()
    assert "0 of 22 runs to run" in run_spe("sweep", *GRID, "--out", out, "--dry-run").stdout  # the stopped cell needs no more

    result = json.loads(run_spe("stats", out, "--format", "json").stdout)
    assert result["sequential"]["looks"] == [2, 4, 6] and result["sequential"]["spending"] == "obf"
    assert result["sequential"]["boundaries"] == pytest.approx(list(spec.design().z))
    worst = next(c for c in result["cells"] if (c["alpha"], c["beta"]) == (1.0, 1.0))
    assert worst["stopped_at_look"] == 2 and worst["verdict"] == "worse" and worst["n"] == 4
    assert worst["ci_method"] == "rci" and worst["ci_high"] < 0
    assert all(c["stopped_at_look"] == 3 for c in result["cells"] if c is not worst)
    table = run_spe("stats", out)
    assert "Group-sequential analysis" in table.stdout and "stopped at look 2" in table.stdout
    fixed = json.loads(run_spe("stats", out, "--fixed-design", "--format", "json").stdout)
    assert "sequential" not in fixed and fixed["correction"] == "holm"
    assert_usage_error(run_spe("stats", out, "--test", "paired"), "fixed-design")
    assert_usage_error(run_spe("stats", out, "--margin", "1"), "fixed-design")  # not the design's margin
    assert run_spe("stats", out, "--margin", "0.5").code == 0
    assert load_sweep(out).stats == {**result, "group": {}}  # figures show the sequential verdicts


def test_design_is_checked_and_kept(tmp_path, trained):
    assert_usage_error(run_spe("sweep", *CELLS, "--looks", "2,4", "--out", tmp_path / "A"), "until-decided")
    assert_usage_error(run_spe("sweep", *GRID, "--spending", "linear", "--out", tmp_path / "A"), "spending")
    assert_usage_error(run_spe("sweep", *GRID, "--seeds", "3", "--out", tmp_path / "A"), "seeds")
    spec = build_spec({"alpha_grid": "0,1", "beta_grid": "1", "until_decided": True, "looks": 3,
                       "max_seeds": 10})
    assert spec.looks == [4, 7, 10] and spec.seeds == list(range(10))
    fixed = build_spec({"alpha_grid": "0,1", "beta_grid": "1", "seeds": 10})
    assert "until_decided" not in fixed.to_toml()  # fixed sweeps keep their files and run ids
    assert [c.run_id for c in fixed.configs()] == [c.run_id for c in spec.configs()]
    out = tmp_path / "B"
    assert run_spe("sweep", *GRID, "--out", out).code == 0
    other = run_spe("sweep", *CELLS, "--until-decided", "--looks", "2,6", "--out", out)
    assert_usage_error(other, "looks")  # another design into the same directory is refused


def spe_process(gate: Path, runs: int, *args) -> subprocess.Popen:
    """``spe ARGS`` in its own process group, with the stand-in trainer behind a gate that lets
    ``runs`` runs finish and blocks the next one in its training."""
    code = (f"import sys; sys.path.insert(0, {str(TESTS)!r}); import test_sweep_sequential as t; "
            "import spe_analysis.training as training; training.train_run = t.gated_stand_in; "
            "from spe_analysis.cli import main; main(sys.argv[1:])")
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], start_new_session=True,
                            env=gated_trainer.environment(gate, runs),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_sigkilled_sequential_sweep_resumes_to_the_same_records(tmp_path, trained):
    reference = tmp_path / "R"
    assert run_spe("sweep", *GRID, "--out", reference).code == 0
    out, gate = tmp_path / "D", tmp_path / "gate"
    sweep = spe_process(gate, 10, "sweep", *GRID, "--out", out)  # past look 1 (8 runs), inside look 2
    try:
        deadline = time.monotonic() + 120
        while not (len(finished_ids(out)) == 10 and gated_trainer.in_flight(gate) == 1):
            assert sweep.poll() is None, sweep.communicate()
            assert time.monotonic() < deadline, "the sweep got no further"
            time.sleep(0.02)
    finally:
        os.killpg(sweep.pid, signal.SIGKILL)
        sweep.wait()
    assert len(finished_ids(out)) == 10 < len(finished_ids(reference))
    resumed = run_spe("sweep", *GRID, "--out", out)
    assert resumed.code == 0, resumed.stderr
    assert outcome(out) == outcome(reference)
    assert not list((out / "locks").glob("*.lock"))
