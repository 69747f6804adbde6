"""`spe figures`: every paper figure redrawn from figures/data, byte for byte the same."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import assert_usage_error, run_spe
from synthetic_runs import grid_cells, write_sweep
from test_plots import write_all_verdicts

KINDS = ("heatmap", "strip", "curves", "lambda")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("data")
    write_all_verdicts(data / "verdicts")
    write_all_verdicts(data / "nolearned", learned=False)
    (data / "notes").mkdir()  # not a sweep: no runs/, ignored
    return data


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """One small sweep (three cells, two seeds), for the tests that only need some figure."""
    data = tmp_path_factory.mktemp("tiny")
    write_sweep(data / "tiny", {("avg", None, None): [90.0, 90.4],
                                **{c: [90.5, 90.1] for c in grid_cells([0.5, 1.0], [0.5])}})
    return data


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_figures_redraws_every_sweep_in_pdf_and_png_byte_for_byte(data, tmp_path):
    first = run_spe("figures", "--data", data, "--out", tmp_path / "a")
    assert first.code == 0, first.stderr
    assert run_spe("figures", "--data", data, "--out", tmp_path / "b").code == 0
    files = _files(tmp_path / "a")
    expected = {f"verdicts-{k}.{ext}" for k in KINDS for ext in ("pdf", "png")}
    expected |= {f"nolearned-{k}.{ext}" for k in KINDS[:3] for ext in ("pdf", "png")}
    assert set(files) == expected
    assert files == _files(tmp_path / "b")
    assert "skipped nolearned lambda: no learned runs" in first.stdout


def test_figures_are_the_same_bytes_in_a_fresh_process(tiny, tmp_path):
    """Nothing depends on the process: not the hash seed, the clock or the working folder."""
    assert run_spe("figures", "--data", tiny, "--out", tmp_path / "here").code == 0
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", "from spe_analysis.cli import main; main()", "figures",
                    "--data", str(tiny), "--out", str(tmp_path / "there")],
                   cwd=tmp_path, env=env, check=True, capture_output=True, timeout=300)
    assert _files(tmp_path / "here") == _files(tmp_path / "there")
    assert len(_files(tmp_path / "here")) == 6  # heatmap, strip, curves; PDF and PNG


def test_figures_defaults_to_figures_data_under_the_working_folder(tiny, tmp_path, monkeypatch):
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "data").symlink_to(tiny)
    monkeypatch.chdir(tmp_path)
    assert run_spe("figures").code == 0
    assert (tmp_path / "figures" / "tiny-heatmap.pdf").is_file()


def test_bad_figure_data_exits_2_with_one_line(tmp_path):
    assert_usage_error(run_spe("figures", "--data", tmp_path / "nope"), "not a directory")
    assert_usage_error(run_spe("figures", "--data", tmp_path), "no sweep directories")
    (tmp_path / "empty" / "runs").mkdir(parents=True)
    assert_usage_error(run_spe("figures", "--data", tmp_path), "no run records")


def test_committed_paper_figures_are_reproduced_byte_for_byte(tmp_path):
    """figures/ holds what `spe figures` draws from the committed sweeps in figures/data."""
    repo = Path(__file__).resolve().parents[1]
    committed = {p.name: p.read_bytes() for p in (repo / "figures").glob("*.*")
                 if p.suffix in (".pdf", ".png")}
    assert committed, "no committed figures in figures/"
    result = run_spe("figures", "--data", repo / "figures" / "data", "--out", tmp_path)
    assert result.code == 0, result.stderr
    assert _files(tmp_path) == committed
