"""`spe train` end to end: real training on digits and a CIFAR-10 slice, records, bad input."""
from __future__ import annotations

import json

import pytest
import torch

from conftest import assert_usage_error, run_spe
from spe_analysis.training import loop
from spe_analysis.training.augment import augment_batch
from spe_analysis.training.config import resolve_config
from spe_analysis.records import SCHEMA, load_records
from spe_analysis.training import train_run
from spe_analysis.training.schedule import lr_factor

TIMING_KEYS = {"train_seconds", "images_per_second"}


def only_record(out_dir) -> dict:
    records = load_records(out_dir)
    assert len(records) == 1
    return records[0]


def test_digits_mix_run_learns_and_writes_a_valid_record(tmp_path):
    result = run_spe("train", "--dataset", "digits", "--model", "resnet20", "--attention", "se",
                     "--pool", "mix", "--alpha", "0.5", "--beta", "0.5", "--seed", "0",
                     "--epochs", "5", "--out", tmp_path)
    assert result.code == 0, result.stderr
    record = only_record(tmp_path)
    assert record["schema"] == SCHEMA and record["status"] == "ok" and record["error"] is None
    config = record["config"]
    assert (config["pool"], config["alpha"], config["beta"], config["epochs"]) == ("mix", 0.5, 0.5, 5)
    assert record["run_id"] == resolve_config(**{k: config[k] for k in (
        "dataset", "model", "attention", "pool", "alpha", "beta", "seed", "epochs")}).run_id
    assert len(record["history"]) == 5
    assert set(record["history"][0]) >= {"epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr"}
    assert record["metrics"]["final_test_acc"] == record["history"][-1]["test_acc"] > 80.0
    assert record["env"]["device"] == "cpu"
    assert record["run_id"] in result.stdout


def test_cifar_jpeg_slice_learns(tmp_path, cifar_jpeg):
    config = resolve_config(dataset=f"imagefolder:{cifar_jpeg}", train_subset=2000, epochs=3,
                            attention="se", pool="avg")
    record = train_run(config, tmp_path, device="cpu")
    assert record["status"] == "ok"
    assert record["metrics"]["final_test_acc"] > 30.0  # chance is 10%, on all 10,000 test images


def test_same_seed_deterministic_runs_are_identical(tmp_path):
    config = resolve_config(pool="learned", epochs=2, seed=3)
    first = train_run(config, tmp_path / "a", device="cpu", deterministic=True)
    second = train_run(config, tmp_path / "b", device="cpu", deterministic=True)
    assert first["run_id"] == second["run_id"]
    assert first["history"] == second["history"]
    strip = lambda m: {k: v for k, v in m.items() if k not in TIMING_KEYS}  # noqa: E731
    assert strip(first["metrics"]) == strip(second["metrics"])
    assert len(first["history"][-1]["lam"]) == 9  # resnet20: one learned pool per block
    other = train_run(resolve_config(pool="learned", epochs=2, seed=4), tmp_path / "c", device="cpu")
    assert other["history"] != first["history"]


def test_bf16_precision_trains_and_is_part_of_the_run_identity(tmp_path):
    fp32 = resolve_config(pool="mix", alpha=0.5, beta=0.5, epochs=5, precision="fp32")
    bf16 = resolve_config(pool="mix", alpha=0.5, beta=0.5, epochs=5, precision="bf16")
    assert fp32.run_id != bf16.run_id
    record = train_run(bf16, tmp_path, device="cpu")
    assert record["env"]["precision"] == "bf16" and record["status"] == "ok"
    assert record["metrics"]["final_test_acc"] > 80.0
    assert train_run(fp32, tmp_path, device="cpu")["env"]["precision"] == "fp32"


def test_validation_split_reports_test_accuracy_at_best_validation_epoch(tmp_path):
    record = train_run(resolve_config(epochs=3, val_split=0.2), tmp_path, device="cpu")
    rows = record["history"]
    best = max(rows, key=lambda r: r["val_acc"])
    assert record["metrics"]["best_val_acc"] == best["val_acc"]
    assert record["metrics"]["test_acc_at_best_val"] == best["test_acc"]


def test_non_finite_loss_stops_the_run_as_diverged(tmp_path):
    record = train_run(resolve_config(epochs=3, lr=1e12), tmp_path, device="cpu")
    assert record["status"] == "diverged"
    assert len(record["history"]) < 3
    assert json.loads((tmp_path / "runs" / f"{record['run_id']}.json").read_text())["status"] == "diverged"


def test_an_exception_in_training_is_recorded_as_failed(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("out of memory (simulated)")

    monkeypatch.setattr(loop, "make_model", broken)
    result = run_spe("train", "--epochs", "1", "--out", tmp_path, "--quiet")
    assert result.code == 1
    record = only_record(tmp_path)
    assert record["status"] == "failed" and "simulated" in record["error"]


def test_batch_augmentation_crops_and_flips_per_sample():
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).view(2, 1, 4, 4) + 1
    out = augment_batch(x, padding=0, flip=True, generator=torch.Generator().manual_seed(0))
    for i in range(2):
        assert torch.equal(out[i], x[i]) or torch.equal(out[i], x[i].flip(2))
    cropped = augment_batch(x.repeat(64, 1, 1, 1), padding=2, flip=False,
                            generator=torch.Generator().manual_seed(0))
    assert cropped.shape == (128, 1, 4, 4)
    # Every crop is a window of the zero-padded image, and different samples get different windows.
    padded = torch.nn.functional.pad(x[0], (2, 2, 2, 2))
    windows = {tuple(padded[:, r:r + 4, c:c + 4].flatten().tolist()) for r in range(5) for c in range(5)}
    assert all(tuple(img.flatten().tolist()) in windows for img in cropped[::2])
    assert len({tuple(img.flatten().tolist()) for img in cropped[::2]}) > 5


def test_learning_rate_schedules():
    paper = resolve_config(preset="paper")
    assert lr_factor(paper, 80 * 10, 10) == 1.0
    assert lr_factor(paper, 81 * 10, 10) == pytest.approx(0.1)
    assert lr_factor(paper, 122 * 10, 10) == pytest.approx(0.01)
    short = resolve_config(epochs=10)
    factors = [lr_factor(short, s, 10) for s in range(100)]
    assert factors[9] == 1.0 and factors[0] < 0.2 and factors[-1] < 0.02
    assert factors == sorted(factors[:10]) + sorted(factors[10:], reverse=True)


@pytest.mark.parametrize("args, fragments", [
    (["--dataset", "imagenet"], ["dataset", "digits"]),
    (["--model", "resnet18"], ["model", "resnet20"]),
    (["--attention", "gc"], ["attention", "se"]),
    (["--pool", "median"], ["pool", "mix"]),
    (["--preset", "long"], ["preset", "paper"]),
    (["--device", "tpu"], ["device", "cpu"]),
    (["--precision", "fp8"], ["precision", "bf16"]),
    (["--pool", "mix", "--alpha", "0.5"], ["--beta"]),
    (["--pool", "mix", "--alpha", "nan", "--beta", "1"], ["alpha", "finite"]),
    (["--pool", "mix", "--alpha", "inf", "--beta", "1"], ["alpha", "finite"]),
    (["--pool", "avg", "--alpha", "1"], ["mix"]),
    (["--epochs", "0"], ["epochs"]),
    (["--epochs", "two"], ["epochs"]),
    (["--val-split", "1.5"], ["val-split"]),
    (["--train-subset", "0"], ["train-subset"]),
    (["--dataset", "imagefolder:/nonexistent/folder"], ["/nonexistent/folder"]),
])
def test_bad_input_exits_2_with_one_line(tmp_path, args, fragments):
    assert_usage_error(run_spe("train", "--out", tmp_path, *args), *fragments)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_missing_out_and_missing_torchvision_files_exit_2(tmp_path):
    assert_usage_error(run_spe("train"), "--out")
    assert_usage_error(run_spe("train", "--dataset", "cifar10", "--data-dir", tmp_path / "empty",
                               "--out", tmp_path), "cifar")
