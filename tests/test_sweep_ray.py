"""`spe sweep --executor ray` on a real local Ray instance (started once for the module)."""
from __future__ import annotations

import sys

import pytest

from conftest import assert_usage_error, run_spe
from spe_analysis.records import load_records

FAST = ["--dataset", "digits", "--epochs", "1", "--train-subset", "128", "--deterministic"]
GRID = ["--alpha-grid", "0,1", "--beta-grid", "0,1", "--seeds", "1"]


@pytest.fixture(scope="module")
def ray_instance(tmp_path_factory):
    ray = pytest.importorskip("ray")
    # The same dataset cache as the tests' (conftest), for the Ray worker processes too.
    cache = str(tmp_path_factory.getbasetemp() / "spe-cache")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"SPE_CACHE_DIR": cache}})
    yield ray
    ray.shutdown()


def test_ray_executor_makes_the_same_runs_as_the_local_one(ray_instance, tmp_path):
    on_ray = run_spe("sweep", *FAST, *GRID, "--executor", "ray", "--num-cpus", "1", "--out", tmp_path / "ray")
    assert on_ray.code == 0, on_ray.stderr
    assert "[4/4] ok" in on_ray.stdout
    local = run_spe("sweep", *FAST, *GRID, "--workers", "1", "--threads", "1", "--out", tmp_path / "local")
    assert local.code == 0, local.stderr
    ray_records = {r["run_id"]: r for r in load_records(tmp_path / "ray")}
    local_records = {r["run_id"]: r for r in load_records(tmp_path / "local")}
    assert len(ray_records) == 4 and ray_records.keys() == local_records.keys()
    assert all(r["status"] == "ok" for r in ray_records.values())
    for rid, record in ray_records.items():  # the same training, one thread each: the same numbers
        assert record["env"]["threads"] == local_records[rid]["env"]["threads"] == 1
        assert record["history"] == local_records[rid]["history"]
        assert record["metrics"]["final_test_acc"] == local_records[rid]["metrics"]["final_test_acc"]
    again = run_spe("sweep", *FAST, *GRID, "--executor", "ray", "--out", tmp_path / "ray")
    assert again.code == 0 and "0 to run" in again.stdout


def test_bad_input_inside_a_ray_task_exits_2_with_one_line(ray_instance, tmp_path):
    result = run_spe("sweep", "--dataset", f"imagefolder:{tmp_path / 'missing'}", "--epochs", "1",
                     "--alpha-grid", "1", "--beta-grid", "1", "--seeds", "1", "--executor", "ray",
                     "--out", tmp_path / "d")
    assert_usage_error(result, "does not exist")


def test_without_ray_the_ray_executor_exits_2_with_the_install_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    result = run_spe("sweep", *GRID, "--executor", "ray", "--out", tmp_path)
    assert_usage_error(result, 'pip install -e ".[ray]"')
