"""`spe sweep --executor slurm` on a real one-node Slurm cluster (tests/slurm/cluster.sh).

The cluster needs root and Debian's slurm-wlm and munge packages; where it cannot start, the
tests that need it skip, saying why.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

import gated_trainer
from conftest import REPO, assert_usage_error, run_spe
from spe_analysis.records import load_records

CLUSTER = REPO / "tests" / "slurm" / "cluster.sh"
pytestmark = pytest.mark.needs("slurm")
FAST = ["--dataset", "digits", "--epochs", "1", "--train-subset", "96", "--deterministic"]
GRID = ["--alpha-grid", "0,1", "--beta-grid", "1", "--seeds", "2"]  # avg + 2 mix cells x 2 seeds = 6 runs


@pytest.fixture(scope="module")
def slurm_cluster():
    pytest.importorskip("submitit")
    try:
        up = subprocess.run([str(CLUSTER), "up"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot start the one-node Slurm cluster: {exc}")
    if up.returncode:
        pytest.skip(f"cannot start the one-node Slurm cluster: {(up.stderr or up.stdout).strip()}")
    yield
    subprocess.run([str(CLUSTER), "down"], capture_output=True, timeout=60)


def _queue() -> str:
    return subprocess.run(["squeue", "--me", "--noheader", "--name", "spe-sweep"],
                          capture_output=True, text=True).stdout.strip()


def test_a_killed_slurm_sweep_resumes_to_the_grid_and_matches_the_local_executor(slurm_cluster, tmp_path):
    out, gate = tmp_path / "slurm", tmp_path / "gate"
    args = ["sweep", *FAST, *GRID, "--executor", "slurm", "--slurm-array-parallelism", "2", "--slurm-cpus", "1",
            "--slurm-option", "comment=spe-test", "--quiet", "--out", str(out)]
    # The jobs run the gated trainer (found through PYTHONPATH, which Slurm passes on): two runs
    # finish, the next two jobs block in their run until the sweep cancels them.
    driver = subprocess.Popen(gated_trainer.command(*args), env=gated_trainer.environment(gate, 2),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    while not (len(list((out / "runs").glob("*.json"))) == 2 and gated_trainer.in_flight(gate) == 2):
        assert driver.poll() is None and time.monotonic() < deadline, driver.communicate()[0]
        time.sleep(0.2)
    driver.send_signal(signal.SIGTERM)  # as Ctrl-C: the sweep cancels the jobs it submitted
    log = driver.communicate(timeout=60)[0]
    deadline = time.monotonic() + 20  # cancelled jobs leave the queue within Slurm's KillWait
    while _queue() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _queue() == "", log  # no job of the sweep is left running or pending
    script = next((out / "slurm").glob("*_submission.sh")).read_text()
    assert {"#SBATCH --array=0-5%2", "#SBATCH --cpus-per-task=1", "#SBATCH --comment=spe-test"} <= set(script.split("\n"))
    assert "--time" not in script  # the partition's limit, not submitit's 5 minutes
    before = {r["run_id"]: r for r in load_records(out)}
    assert len(before) == 2, log

    command = [sys.executable, "-m", "spe_analysis", *args]
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"{len(before)} already done, {6 - len(before)} to run" in again.stdout
    after = {r["run_id"]: r for r in load_records(out)}
    assert len(after) == 6 and all(r["status"] == "ok" for r in after.values())
    assert all(after[rid] == record for rid, record in before.items())  # finished runs kept as they were
    ends = Counter(e["run_id"] for e in map(json.loads, (out / "events.jsonl").read_text().splitlines())
                   if e["event"] == "end")
    assert set(ends) == set(after) and set(ends.values()) == {1}  # every run finished exactly once

    local = run_spe("sweep", *FAST, *GRID, "--workers", "1", "--threads", "1", "--out", tmp_path / "local")
    assert local.code == 0, local.stderr
    accuracy = {r["run_id"]: r["metrics"]["final_test_acc"] for r in load_records(tmp_path / "local")}
    assert accuracy == {rid: r["metrics"]["final_test_acc"] for rid, r in after.items()}


def test_sbatch_refusing_the_jobs_exits_2_with_one_line(slurm_cluster, tmp_path):
    result = run_spe("sweep", *GRID, "--executor", "slurm", "--slurm-partition", "no-such-partition",
                     "--out", tmp_path)
    assert_usage_error(result, "sbatch refused", "partition")


def test_without_slurm_the_slurm_executor_exits_2_with_one_line(tmp_path, monkeypatch):
    pytest.importorskip("submitit")
    monkeypatch.setenv("PATH", os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                                               if not os.path.exists(os.path.join(p, "sbatch"))))
    result = run_spe("sweep", *GRID, "--executor", "slurm", "--out", tmp_path)
    assert_usage_error(result, "sbatch is not on PATH")


def test_without_submitit_the_slurm_executor_exits_2_with_the_install_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "submitit", None)  # as if submitit were not installed
    result = run_spe("sweep", *GRID, "--executor", "slurm", "--out", tmp_path)
    assert_usage_error(result, 'pip install -e ".[slurm]"')


def test_a_bad_slurm_option_exits_2_with_one_line(tmp_path):
    result = run_spe("sweep", *GRID, "--executor", "slurm", "--slurm-option", "qos", "--out", tmp_path)
    assert_usage_error(result, "KEY=VALUE")
