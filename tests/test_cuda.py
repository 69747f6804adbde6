"""The CUDA paths: bf16 autocast by default, reproducible runs, workers sharing a GPU, fused runs.

Skipped where there is no CUDA device (CI); run on a GPU machine with ``pytest tests/test_cuda.py``.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from conftest import run_spe
from test_fused import gradient_errors, separate_models
from test_pooling import tie_free
from spe_analysis.training.config import resolve_config
from spe_analysis.models.fused import fuse_models
from spe_analysis.records import load_records
from spe_analysis.pooling import make_pool
from spe_analysis.training import train_run

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_a_cuda_run_autocasts_to_bf16_learns_and_names_the_gpu(tmp_path):
    result = run_spe("train", "--dataset", "digits", "--pool", "mix", "--alpha", "0.5", "--beta", "0.5",
                     "--epochs", "5", "--device", "cuda", "--out", tmp_path)
    assert result.code == 0, result.stderr
    (record,) = load_records(tmp_path)
    assert record["status"] == "ok" and record["config"]["precision"] == "auto"
    assert record["env"]["device"] == "cuda" and record["env"]["precision"] == "bf16"
    assert record["env"]["accelerator"] == torch.cuda.get_device_name()
    assert record["metrics"]["final_test_acc"] > 90.0


def test_fp32_on_cuda_stays_fp32(tmp_path):
    record = train_run(resolve_config(epochs=2, precision="fp32"), tmp_path, device="cuda")
    assert record["status"] == "ok" and record["env"]["precision"] == "fp32"


def test_same_seed_deterministic_cuda_runs_are_identical(tmp_path):
    config = resolve_config(pool="learned", epochs=2, seed=3)
    first = train_run(config, tmp_path / "a", device="cuda", deterministic=True)
    second = train_run(config, tmp_path / "b", device="cuda", deterministic=True)
    assert first["status"] == second["status"] == "ok", (first["error"], second["error"])
    assert first["history"] == second["history"]


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("shape", [(4, 8, 16, 16), (2, 3, 5, 7), (2, 3, 1, 1)])
def test_mix_and_learned_pools_on_cuda_match_cpu(layout, shape):
    x = tie_free(*shape, dtype=torch.float32).contiguous(memory_format=layout)
    weights = torch.randn(*shape[:2], 1, 1)
    for pool in (make_pool("mix", alpha=0.7, beta=-1.3), make_pool("learned")):
        grads = []
        for device in ("cpu", "cuda"):
            leaf = x.detach().to(device, copy=True).requires_grad_()
            out = pool.to(device)(leaf)
            (out * weights.to(device)).sum().backward()
            grads.append((out.cpu(), leaf.grad.cpu()))
        torch.testing.assert_close(grads[0], grads[1])


def test_a_sweep_of_two_workers_per_gpu_runs_every_run_on_the_gpu(tmp_path):
    gpus = torch.cuda.device_count()
    result = run_spe("sweep", "--dataset", "digits", "--epochs", "1", "--alpha-grid", "0,1", "--beta-grid", "0,1",
                     "--seeds", "2", "--device", "cuda", "--workers", str(2 * gpus), "--out", tmp_path)
    assert result.code == 0, result.stderr
    records = load_records(tmp_path)
    assert len(records) == 8 and all(r["status"] == "ok" for r in records)
    assert {r["env"]["device"] for r in records} == {"cuda"}
    assert {r["env"]["precision"] for r in records} == {"bf16"}


def test_a_fused_sweep_on_cuda_keeps_every_run_its_own(tmp_path):
    """--fuse 4 --deterministic on the GPU: split kernels, the same runs and accuracies as unfused."""
    common = ["--dataset", "digits", "--epochs", "1", "--alpha-grid", "0,1", "--beta-grid", "0,1", "--seeds", "2",
              "--device", "cuda", "--deterministic", "--precision", "fp32", "--workers", "1"]
    for fuse in ("4", "off"):
        result = run_spe("sweep", *common, "--fuse", fuse, "--out", tmp_path / fuse)
        assert result.code == 0, result.stderr
    fused = {r["run_id"]: r for r in load_records(tmp_path / "4")}
    alone = {r["run_id"]: r for r in load_records(tmp_path / "off")}
    assert fused.keys() == alone.keys() and {r["env"]["fused"] for r in fused.values()} == {4}
    for rid, record in fused.items():
        assert record["status"] == "ok" and record["env"]["device"] == "cuda"
        assert abs(record["metrics"]["final_test_acc"] - alone[rid]["metrics"]["final_test_acc"]) <= 0.5


@pytest.mark.parametrize("kernels", ["grouped", "split"])
def test_fused_gradients_on_cuda_are_each_runs_own(kernels, monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # compare fp32 with fp32
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    models = [m.cuda() for m in separate_models("se")]
    fused = fuse_models([m.cuda() for m in separate_models("se")], kernels)
    x = torch.randn(len(models), 4, 3, 8, 8, device="cuda")
    y = torch.randint(0, 10, (len(models), 4), device="cuda")
    alone = torch.stack([m(x[k].contiguous(memory_format=torch.channels_last)) for k, m in enumerate(models)])
    torch.stack([F.cross_entropy(alone[k], y[k]) for k in range(len(models))]).sum().backward()
    together = fused(x)
    torch.stack([F.cross_entropy(together[k], y[k]) for k in range(len(models))]).sum().backward()
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-5)
    assert max(gradient_errors(models, fused).values()) < 1e-4
