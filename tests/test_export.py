"""`spe export`: one tidy row per run (or per run and epoch) as csv, jsonl or parquet."""
from __future__ import annotations

import csv
import io
import json
import sys

import pytest

from conftest import assert_usage_error, run_spe
from synthetic_runs import write_sweep

CELLS = {("avg", None, None): [90.0, 91.0], ("mix", 0.5, 0.5): [92.0, 93.0],
         ("learned", None, None): [91.5, 92.5]}


@pytest.fixture
def sweep_dir(tmp_path):
    write_sweep(tmp_path, CELLS, statuses={(("mix", 0.5, 0.5), 1): "failed"})
    return tmp_path


def test_csv_has_one_tidy_row_per_run(sweep_dir):
    result = run_spe("export", sweep_dir, "--format", "csv")
    assert result.code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 6
    for column in ("run_id", "status", "pool", "alpha", "beta", "seed", "epochs", "lr", "final_test_acc",
                   "train_seconds", "started_at", "finished_at", "wall_seconds", "error", "env_hostname"):
        assert column in rows[0]
    mix = sorted((r for r in rows if r["pool"] == "mix"), key=lambda r: r["seed"])
    assert [r["status"] for r in mix] == ["ok", "failed"]
    assert float(mix[0]["alpha"]) == 0.5 and float(mix[0]["final_test_acc"]) == 92.0
    assert mix[1]["error"] == "RuntimeError: synthetic failure"
    avg = next(r for r in rows if r["pool"] == "avg")
    assert avg["alpha"] == "" and json.loads(avg["milestones"]) == []


def test_jsonl_history_has_one_row_per_run_and_epoch(sweep_dir, tmp_path):
    out = tmp_path / "history.jsonl"
    result = run_spe("export", sweep_dir, "--format", "jsonl", "--history", "--out", out)
    assert result.code == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 6 * 3
    first = rows[0]
    assert {"run_id", "pool", "seed", "epoch", "test_acc", "train_loss", "epoch_lr", "lr"} <= set(first)
    assert first["lr"] == 0.2 and first["epoch_lr"] != first["lr"]  # base rate vs that epoch's rate
    learned = [r for r in rows if r["pool"] == "learned"]
    assert isinstance(learned[0]["lam"], list) and len(learned[0]["lam"]) == 9
    assert set(first) == set(rows[-1])  # every row has every column


def test_parquet_round_trips(sweep_dir, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "runs.parquet"
    assert run_spe("export", sweep_dir, "--format", "parquet", "--out", out).code == 0
    table = pq.read_table(out).to_pylist()
    assert len(table) == 6 and {r["pool"] for r in table} == {"avg", "mix", "learned"}
    history = tmp_path / "history.parquet"
    assert run_spe("export", sweep_dir, "--format", "parquet", "--history", "--out", history).code == 0
    assert len(pq.read_table(history)) == 18


def test_bad_export_input_exits_2_with_one_line(sweep_dir, tmp_path, monkeypatch):
    assert_usage_error(run_spe("export", sweep_dir, "--format", "xlsx"), "unknown format", "csv, jsonl, parquet")
    assert_usage_error(run_spe("export", tmp_path / "none"), "not a directory")
    (tmp_path / "empty" / "runs").mkdir(parents=True)
    assert_usage_error(run_spe("export", tmp_path / "empty"), "no run records")
    assert_usage_error(run_spe("export", sweep_dir, "--format", "parquet"), "--out")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    assert_usage_error(run_spe("export", sweep_dir, "--format", "parquet", "--out", tmp_path / "x.parquet"),
                       'pip install -e ".[parquet]"')
