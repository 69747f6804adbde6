"""Files under runs/ that are not readable records (truncated JSON, another schema, not an
object) are named on stderr and counted by every reader; the analysis goes on without them,
and `spe sweep` runs such a run again."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import assert_usage_error, run_spe
from spe_analysis.records import load_records, record_path, runs_dir
from spe_analysis.stats import analyze
from synthetic_runs import write_sweep

CELLS = {("avg", None, None): [90.0, 90.2, 89.9], ("mix", 0.5, 0.5): [91.0, 91.2, 90.8]}
FOREIGN = {"list.json": "[1, 2]", "other.json": '{"schema": "other/1"}',
           "noconfig.json": '{"schema": "spe.run/1", "run_id": "x"}'}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A sweep with one truncated record (a mix run) and three foreign files."""
    out = tmp_path_factory.mktemp("sweep")
    records = write_sweep(out, CELLS)
    truncated = record_path(out, records[-1]["run_id"])
    truncated.write_text(truncated.read_text()[:200])
    for name, text in FOREIGN.items():
        (runs_dir(out) / name).write_text(text)
    return out, truncated


def _named(stderr: str, sweep) -> None:
    """One warning line per bad file, naming its path and why."""
    out, truncated = sweep
    lines = [line for line in stderr.splitlines() if line.strip()]
    why = {}
    for line in lines:
        match = re.fullmatch(r"spe: warning: left out (\S+): (.+)", line)
        assert match, line
        why[Path(match[1]).name] = match[2]
        assert Path(match[1]).parent == runs_dir(out)
    assert len(lines) == len(why) and set(why) == {truncated.name, *FOREIGN}, stderr
    assert "not valid JSON" in why[truncated.name] and "array" in why["list.json"]
    assert "'other/1'" in why["other.json"] and "config" in why["noconfig.json"]


def test_load_records_lists_what_it_could_not_read(sweep):
    out, truncated = sweep
    records = load_records(out)
    assert len(records) == 5 and truncated.stem not in {r["run_id"] for r in records}
    assert {u.path.name for u in records.unreadable} == {truncated.name, *FOREIGN}
    assert analyze(records)["excluded"]["unreadable"] == 4  # the library counts them too
    assert analyze(list(records))["excluded"]["unreadable"] == 0


def test_stats_names_and_counts_unreadable_files_and_goes_on(sweep):
    table = run_spe("stats", sweep[0])
    assert table.code == 0, table.stderr
    _named(table.stderr, sweep)
    assert "4 record files could not be read" in table.stdout
    result = run_spe("stats", sweep[0], "--format", "json")
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["excluded"] == {"failed": 0, "diverged": 0, "non_finite": 0, "unreadable": 4}
    assert [c["n"] for c in data["cells"]] == [2] and data["baseline"]["n"] == 3
    _named(result.stderr, sweep)
    grouped = json.loads(run_spe("stats", sweep[0], "--format", "json", "--group-by",
                                 "dataset").stdout)
    assert grouped[0]["excluded"]["unreadable"] == 4


@pytest.mark.parametrize("command", [
    ["export", "--format", "csv"],
    ["plan", "--delta", "0.3"],
    ["plot", "--kind", "heatmap", "--format", "svg"],
    ["report"],
])
def test_every_reader_names_unreadable_files(sweep, tmp_path, command):
    name, *options = command
    if name in ("plot", "report"):
        options += ["--out", tmp_path / ("figs" if name == "plot" else "report.md")]
    result = run_spe(name, sweep[0], *options)
    assert result.code == 0, result.stderr
    _named(result.stderr, sweep)
    if name == "export":
        assert len(result.stdout.strip().splitlines()) == 1 + 5  # header and the readable runs


def test_a_directory_of_unreadable_files_only_is_one_line(tmp_path):
    runs_dir(tmp_path).mkdir()
    (runs_dir(tmp_path) / "a.json").write_text('{"schema": "spe.run/1", "conf')
    assert_usage_error(run_spe("stats", tmp_path), "no run records", "a.json", "not valid JSON")


def test_sweep_runs_a_truncated_run_again(tmp_path, monkeypatch):
    from test_sweep_runner import CALLS, fake_trainer
    from spe_analysis.sweep import runner

    monkeypatch.setattr(runner, "_default_trainer", lambda: fake_trainer)
    grid = ["--alpha-grid", "1", "--beta-grid", "1", "--seeds", "1", "--epochs", "1",
            "--workers", "1", "--device", "cpu", "--out", tmp_path]
    assert run_spe("sweep", *grid).code == 0
    (record,) = [r for r in load_records(tmp_path) if r["config"]["pool"] == "mix"]
    path = record_path(tmp_path, record["run_id"])
    path.write_text(path.read_text()[:100])
    CALLS.clear()
    again = run_spe("sweep", *grid)
    assert again.code == 0, again.stderr
    assert CALLS == [record["run_id"]] and not load_records(tmp_path).unreadable


def test_meta_names_and_counts_unreadable_files(sweep, tmp_path):
    write_sweep(tmp_path, CELLS, dataset="fashion-mnist")  # a second setting
    result = run_spe("meta", sweep[0], tmp_path, "--format", "json")
    assert result.code == 0, result.stderr
    _named(result.stderr, sweep)
    assert json.loads(result.stdout)["unreadable"] == 4
