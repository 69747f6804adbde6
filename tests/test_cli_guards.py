"""What a newcomer can trust the command line with: nothing overwritten unless --force, no
option ignored silently, and one judgement of each input across the commands."""
from __future__ import annotations

import json
import shutil

import pytest

from conftest import REPO, assert_usage_error, run_spe
from spe_analysis.training.config import resolve_config
from spe_analysis.records import record_path
from synthetic_runs import synthetic_record, write_sweep

FAST = ["--dataset", "digits", "--epochs", "1", "--train-subset", "96", "--device", "cpu"]
TINY_GRID = ["--alpha-grid", "1", "--beta-grid", "0", "--seeds", "1"]  # avg + one mix cell: 2 runs


@pytest.fixture
def sweep_dir(tmp_path):
    """A small real sweep directory (its sweep.toml and records), copied from figures/data."""
    out = tmp_path / "sweep"
    shutil.copytree(REPO / "figures" / "data" / "cifar10-se-resnet20", out)
    return out


# --- nothing is written over ------------------------------------------------------------------

def test_report_refuses_to_write_over_the_sweep_spec(sweep_dir):
    spec = (sweep_dir / "sweep.toml").read_bytes()
    assert_usage_error(run_spe("report", sweep_dir, "--out", sweep_dir / "sweep.toml"),
                       "specification", "--force")
    assert (sweep_dir / "sweep.toml").read_bytes() == spec


def test_export_refuses_to_write_over_a_run_record_or_any_existing_file(sweep_dir, tmp_path):
    record = next((sweep_dir / "runs").glob("*.json"))
    before = record.read_bytes()
    assert_usage_error(run_spe("export", sweep_dir, "--out", record), "run record")
    assert record.read_bytes() == before
    table = tmp_path / "table.csv"
    table.write_text("mine\n")
    assert_usage_error(run_spe("export", sweep_dir, "--out", table), "--force")
    assert table.read_text() == "mine\n"
    assert run_spe("export", sweep_dir, "--out", table, "--force").code == 0
    assert table.read_text() != "mine\n"


def test_report_and_plot_replace_their_own_outputs_but_not_other_files(tmp_path):
    out = tmp_path / "s"
    write_sweep(out, {("avg", None, None): [90, 91, 92], ("mix", 1.0, 0.0): [89, 90, 91]})
    assert run_spe("report", out).code == 0
    assert run_spe("report", out).code == 0  # its own report.md and figures: redrawn in place
    notes = tmp_path / "notes.md"
    notes.write_text("my notes\n")
    assert_usage_error(run_spe("report", out, "--out", notes), "did not write")
    assert notes.read_text() == "my notes\n"
    figures = tmp_path / "figs"
    figures.mkdir()
    (figures / "strip.png").write_bytes(b"a photo")
    assert_usage_error(run_spe("plot", out, "--kind", "all", "--out", figures), "strip.png")
    assert (figures / "strip.png").read_bytes() == b"a photo" and not (figures / "heatmap.png").exists()
    assert run_spe("plot", out, "--out", figures, "--force").code == 0


def test_train_keeps_an_existing_record_of_the_same_run(tmp_path):
    first = run_spe("train", *FAST, "--out", tmp_path, "--quiet")
    assert first.code == 0, first.stderr
    assert "after 1 epoch," in first.stdout  # not "1 epochs"
    path = next((tmp_path / "runs").glob("*.json"))
    before = path.read_bytes()
    again = run_spe("train", *FAST, "--out", tmp_path, "--quiet")
    assert again.code == 0, again.stderr
    assert "kept" in again.stdout and path.stem in again.stdout
    assert path.read_bytes() == before


def test_train_refuses_an_out_with_other_hyperparameters(tmp_path):
    write_sweep(tmp_path, {("avg", None, None): [90.0]}, epochs=5)
    result = run_spe("train", *FAST, "--seed", "1", "--out", tmp_path)
    assert_usage_error(result, "epochs", "--force")
    assert len(list((tmp_path / "runs").glob("*.json"))) == 1


def test_a_resumed_sweep_names_each_unreadable_record_it_reruns(tmp_path):
    assert run_spe("sweep", *FAST, *TINY_GRID, "--workers", "1", "--quiet", "--out", tmp_path).code == 0
    broken = sorted((tmp_path / "runs").glob("*.json"))[0]
    broken.write_text(broken.read_text()[:40])  # truncated, as by a full disk
    result = run_spe("sweep", *FAST, *TINY_GRID, "--workers", "1", "--quiet", "--out", tmp_path)
    assert result.code == 0, result.stderr
    assert str(broken) in result.stderr and "runs again" in result.stderr
    assert json.loads(broken.read_text())["status"] == "ok"


# --- no option ignored silently ---------------------------------------------------------------

@pytest.mark.parametrize("args, fragment", [
    (["--slurm-partition", "gpu"], "--executor slurm"),
    (["--slurm-time", "10"], "--executor slurm"),
    (["--ray-address", "auto"], "--executor ray"),
    (["--num-gpus", "1"], "--executor ray"),
    (["--executor", "ray", "--workers", "2"], "--executor local"),
])
@pytest.mark.parametrize("dry_run", [True, False])
def test_an_option_of_another_executor_is_refused(tmp_path, args, fragment, dry_run):
    extra = ["--dry-run"] if dry_run else []
    result = run_spe("sweep", *FAST, *TINY_GRID, *args, *extra, "--out", tmp_path / "s")
    assert_usage_error(result, fragment)
    assert result.stdout == "" and not (tmp_path / "s").exists()


@pytest.mark.parametrize("args, fragments", [
    (["--executor", "kubernetes"], ["executor", "slurm"]),
    (["--device", "mps"], ["device", "mps"]),  # no Apple GPU on a CI machine
])
def test_dry_run_checks_what_the_real_run_checks_before_printing(tmp_path, args, fragments):
    result = run_spe("sweep", *FAST, *TINY_GRID, *args, "--dry-run", "--out", tmp_path / "s")
    assert_usage_error(result, *fragments)
    assert result.stdout == ""


def test_dry_run_with_slurm_says_jobs_not_workers(tmp_path):
    pytest.importorskip("submitit", reason="--executor slurm needs submitit")
    if shutil.which("sbatch") is None:
        pytest.skip("sbatch is not on PATH: no Slurm to check the dry run against")
    result = run_spe("sweep", *FAST, *TINY_GRID, "--executor", "slurm", "--dry-run", "--out", tmp_path / "s")
    assert result.code == 0, result.stderr
    assert "Slurm jobs" in result.stdout and "worker(s)" not in result.stdout


# --- one validation per concept ---------------------------------------------------------------

def test_a_negative_seed_is_refused_by_train_as_by_sweep(tmp_path):
    assert_usage_error(run_spe("train", *FAST, "--seed", "-1", "--out", tmp_path / "t"), "seed", "at least 0")
    assert not (tmp_path / "t").exists()
    assert_usage_error(run_spe("sweep", *FAST, "--alpha-grid", "1", "--beta-grid", "0", "--seeds", "0,-1",
                               "--dry-run", "--out", tmp_path / "s"), "seed", "at least 0")


def test_train_treats_alpha_beta_zero_as_the_sweep_does(tmp_path):
    zero = ["--pool", "mix", "--alpha", "0", "--beta", "0"]
    assert_usage_error(run_spe("train", *FAST, *zero, "--out", tmp_path / "t"), "--include-zero")
    assert not (tmp_path / "t").exists()
    result = run_spe("train", *FAST, *zero, "--include-zero", "--quiet", "--out", tmp_path / "t")
    assert result.code == 0, result.stderr


@pytest.mark.parametrize("delta", ["-1", "0", "nan"])
def test_plan_refuses_a_delta_that_is_not_positive(delta):
    assert_usage_error(run_spe("plan", "--sd", "0.5", "--delta", delta), "--delta")
    assert_usage_error(run_spe("plan", "--sd", "0.5", "--delta", delta, "--looks", "3,5"), "--delta")


def test_existing_record_check_reads_the_record_not_a_retrained_one(tmp_path):
    # The kept record is the one on disk: its (synthetic) accuracy is what train reports.
    record = synthetic_record("avg", epochs=1, final_acc=12.5, train_subset=96)
    config = resolve_config(dataset="digits", epochs=1, train_subset=96)
    assert record["run_id"] == config.run_id
    path = record_path(tmp_path, config.run_id)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(record))
    result = run_spe("train", *FAST, "--out", tmp_path)
    assert result.code == 0 and "12.50%" in result.stdout and "kept" in result.stdout
