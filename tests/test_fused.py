"""Fused training (spe_analysis/models/fused.py, training/loop.py, `spe sweep --fuse`): K runs as one
model give each run what it gets alone: logits, loss, gradients, parameters after training,
records with the same run ids; per-run divergence, SIGKILL and resume."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from conftest import run_spe
from spe_analysis.training import loop
from spe_analysis.training.groups import fusion_key
from spe_analysis.training.config import RunConfig, resolve_config
from spe_analysis.data import load_dataset
from spe_analysis.attention import make_attention
from spe_analysis.models.fused import FusedPool, fuse_models, split_state
from spe_analysis.models import make_model
from spe_analysis.pooling import make_pool
from spe_analysis.records import finished_ids, load_records, read_record, runs_dir
from spe_analysis.sweep import build_spec
from spe_analysis.sweep.executors import fuse_size
from spe_analysis.sweep.fusing import group_tasks, task_configs
from spe_analysis.sweep.runner import RunTask
from spe_analysis.training.loop import Split
from spe_analysis.training.run import make_splits

HOSTS = ("none", "se", "spem", "eca", "cbam")
# Every pool, two mixes with different weights; same-pool runs side by side, as the trainer orders them.
POOLS = (("avg", None, None), ("max", None, None), ("min", None, None), ("mix", 0.5, 1.0),
         ("mix", -1.0, 0.25), ("learned", None, None), ("avgmax", None, None))
FAST = ["--dataset", "digits", "--epochs", "1", "--train-subset", "256", "--threads", "1", "--workers", "1",
        "--deterministic", "--precision", "fp32", "--alpha-grid", "0,1", "--beta-grid", "0,1", "--seeds", "2"]


@pytest.fixture(autouse=True)
def _deterministic_single_thread():
    threads = torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)  # two threads on a busy 2-core machine run many times slower
    yield
    torch.use_deterministic_algorithms(False)
    torch.set_num_threads(threads)


def separate_models(host: str, dtype=torch.float32, model: str = "resnet20", pools=POOLS):
    models = []
    for seed, (pool, alpha, beta) in enumerate(pools):
        torch.manual_seed(seed)
        models.append(make_model(model, num_classes=10, attention=host, pool=pool, alpha=alpha, beta=beta)
                      .to(dtype, memory_format=torch.channels_last))
    return models


def one_step_apart_and_fused(host: str, dtype, kernels: str, model: str = "resnet20", pools=POOLS):
    """The K separate models and, built alike, the fused one, after one forward and backward on
    the same batches: (separate models, their logits, losses; fused model, logits, losses)."""
    models = separate_models(host, dtype, model, pools)
    fused = fuse_models(separate_models(host, dtype, model, pools), kernels)  # it owns its models' modules
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(len(models), 4, 3, 8, 8, generator=generator, dtype=dtype)
    y = torch.randint(0, 10, (len(models), 4), generator=generator)
    alone = torch.stack([m(x[k].contiguous(memory_format=torch.channels_last)) for k, m in enumerate(models)])
    losses = torch.stack([F.cross_entropy(alone[k], y[k]) for k in range(len(models))])
    losses.sum().backward()
    together = fused(x)
    fused_losses = torch.stack([F.cross_entropy(together[k], y[k]) for k in range(len(models))])  # as the loop
    fused_losses.sum().backward()
    return models, alone, losses, fused, together, fused_losses


def gradient_errors(models, fused) -> dict[tuple[int, str], float]:
    """|fused - alone| / |alone| (2-norms) of every parameter's gradient, by (run, name)."""
    errors = {}
    for k, model in enumerate(models):
        grads, state = split_state(fused, k, grad=True), split_state(fused, k)
        assert state.keys() == model.state_dict().keys()
        for name, param in model.named_parameters():
            assert (param.grad is None) == (name not in grads), name
            if param.grad is not None:
                errors[k, name] = ((grads[name] - param.grad).norm() / param.grad.norm().clamp_min(1e-30)).item()
    return errors


@pytest.mark.parametrize("host", HOSTS)
def test_split_kernels_give_every_run_its_own_logits_loss_and_gradients_bit_for_bit(host):
    """CPU, fp32, deterministic: the issue asks for 1e-5; the fused model gives exactly 0."""
    models, alone, losses, fused, together, fused_losses = one_step_apart_and_fused(host, torch.float32, "split")
    assert torch.equal(together, alone) and torch.equal(fused_losses, losses)
    assert set(gradient_errors(models, fused).values()) == {0.0}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["fp32", "fp64"])
@pytest.mark.parametrize("host", HOSTS)
def test_grouped_kernels_route_each_runs_gradient_to_it(host, dtype):
    """Grouped kernels sum in another order: in fp64 the fusion shows exact (1e-10); in fp32
    the gradients agree to 1e-5 of their size (measured: at most 5e-6)."""
    models, alone, losses, fused, together, fused_losses = one_step_apart_and_fused(host, dtype, "grouped")
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(fused_losses, losses, rtol=1e-5, atol=0)
    tolerance = 1e-5 if dtype == torch.float32 else 1e-10
    assert max(gradient_errors(models, fused).values()) < tolerance


BF16_POOLS = (("mix", 0.3, 0.7), ("mix", 0.5, 1.0), ("learned", None, None))  # 0.3, 0.7: no bf16 numbers


def test_fused_runs_pool_with_their_own_alpha_and_beta_under_bf16():
    """Issue 21 (6): bf16 rounds 0.3 to 0.30078125; a fused pool must weigh each run's max and
    min by its own alpha and beta, as the run's own pool does, bit for bit."""
    pools = [make_pool(pool, alpha=alpha, beta=beta) for pool, alpha, beta in BF16_POOLS]
    fused = FusedPool(pools)
    x = torch.randn(8, 3 * 16, 6, 6, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    alone = torch.cat([pool(part) for pool, part in zip(pools, x.chunk(3, 1))], 1)
    assert torch.equal(fused(x), alone)
    _, _, wa, wb = fused.terms(x)
    assert set(wa[0, :16].flatten().tolist()) == {torch.tensor(0.3).item()}  # 0.3 as alone, not 0.30078125
    assert set(wb[0, :16].flatten().tolist()) == {torch.tensor(0.7).item()}


def test_a_fused_spem_host_gates_as_each_runs_own_under_bf16_autocast():
    """Issue 21 (6): SPEM weighs its reweighted max and min by alpha and beta in float32 under
    autocast; fused (grouped, elementwise throughout) it gives each run's own gate exactly."""
    hosts = [make_attention("spem", 16, pool=make_pool(pool, alpha=alpha, beta=beta))
             for pool, alpha, beta in BF16_POOLS]
    generator = torch.Generator().manual_seed(0)
    for host in hosts:  # away from the init (w = 0), where alpha and beta have no effect
        for param in (host.w1, host.w2, host.b1, host.b2):
            param.data = torch.randn(param.shape, generator=generator)
    fused = fuse_models([torch.nn.Sequential(h) for h in hosts], "grouped").net
    x = torch.randn(8, 3 * 16, 6, 6, generator=generator)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        alone = torch.cat([host(part.to(torch.bfloat16)) for host, part in zip(hosts, x.chunk(3, 1))], 1)
        together = fused(x.to(torch.bfloat16))
    assert together.dtype == alone.dtype == torch.bfloat16
    assert torch.equal(together, alone)


@pytest.mark.parametrize("model", ["resnet56", "resnet110", "resnet164"])
def test_deeper_models_fuse_too(model):
    pools = (("avg", None, None), ("mix", 0.5, 1.0))
    models, alone, losses, fused, together, fused_losses = one_step_apart_and_fused(
        "se", torch.float32, "split", model, pools)
    assert torch.equal(together, alone) and set(gradient_errors(models, fused).values()) == {0.0}


def digits_splits(dtype=torch.float32, images: int = 64):
    config = resolve_config(train_subset=images)
    train, test, _ = make_splits(config, load_dataset("digits"), torch.device("cpu"))
    return Split(train.x.to(dtype), train.y), Split(test.x[:100].to(dtype), test.y[:100])


def capture(monkeypatch, module, name: str) -> list:
    made, original = [], getattr(module, name)
    monkeypatch.setattr(module, name, lambda *a, **k: made.append(original(*a, **k)) or made[-1])
    return made


TWENTY_STEPS = [("spem", ("max", "mix", "mix", "learned")), ("se", ("avg", "min", "avgmax")),
                ("eca", ("avg", "learned")), ("cbam", ("mix", "learned"))]


@pytest.mark.parametrize("kernels,dtype", [("split", torch.float32), ("grouped", torch.float64)])
@pytest.mark.parametrize("host,pools", TWENTY_STEPS, ids=[host for host, _ in TWENTY_STEPS])
def test_twenty_fused_steps_end_where_separate_training_ends(monkeypatch, host, pools, kernels, dtype):
    """`short` recipe, 32 digits, batch 8, 5 epochs: 20 steps.  Split kernels in fp32: the
    issue's 1e-4 of each parameter's largest value (they end bit for bit equal).  Grouped
    kernels in fp64: in fp32 their other summation order (about 1e-7) is amplified by training
    itself, as a change of thread count is, to 1e-3 of some parameters after 20 steps."""
    torch.set_default_dtype(dtype)  # the models' parameters
    try:
        train, test = digits_splits(dtype, images=32)
        configs = [resolve_config(attention=host, pool=pool, alpha=0.5 - k / 4 if pool == "mix" else None,
                                  beta=1.0 if pool == "mix" else None, seed=k, epochs=5, batch_size=8,
                                  precision="fp32") for k, pool in enumerate(pools)]
        made = capture(monkeypatch, loop, "make_model")
        outcomes = [loop.fit([c], train, test, None, 10, torch.device("cpu"))[0] for c in configs]
        alone = list(made)
        fused = capture(monkeypatch, loop, "group_model")
        fused_outcomes = loop.fit(configs, train, test, None, 10, torch.device("cpu"), kernels=kernels)
    finally:
        torch.set_default_dtype(torch.float32)
    for k, model in enumerate(alone):
        state = split_state(fused[0], k)
        for name, value in model.state_dict().items():
            scale = value.abs().max().clamp_min(1e-12)
            assert (state[name] - value).abs().max() <= 1e-4 * scale, (k, name)
        assert [r.keys() for r in fused_outcomes[k].history] == [r.keys() for r in outcomes[k].history]
        for row, fused_row in zip(outcomes[k].history, fused_outcomes[k].history):  # lam, p_norm, p_turn too
            for key, value in row.items():
                assert fused_row[key] == pytest.approx(value, rel=1e-5, nan_ok=True), key


def test_a_diverging_run_stops_alone_and_the_others_train_on(monkeypatch):
    train, test = digits_splits()
    configs = [resolve_config(pool="avg", seed=k, epochs=2, batch_size=16, precision="fp32")
               for k in range(2)]
    alone = loop.fit(configs[:1], train, test, None, 10, torch.device("cpu"))[0]
    real = loop.group_model

    def poisoned(models, kernels):
        fused = real(models, kernels)
        with torch.no_grad():
            split_state(fused, 1)["conv1.weight"].fill_(float("nan"))  # run 1 diverges at once
        return fused
    monkeypatch.setattr(loop, "group_model", poisoned)
    healthy, broken = loop.fit(configs, train, test, None, 10, torch.device("cpu"), kernels="grouped")
    assert broken.status == "diverged" and broken.history == []
    assert healthy.status == "ok" and len(healthy.history) == 2
    assert [r["test_acc"] for r in healthy.history] == pytest.approx([r["test_acc"] for r in alone.history], abs=0.5)


def test_fuse_option_and_grouping():
    assert fuse_size("off") == fuse_size("1") == 1 and fuse_size("4") == 4
    assert fuse_size("auto", "cpu") == 1  # measured slower on CPUs
    spec = build_spec({"alpha_grid": "0,1", "beta_grid": "0,1", "seeds": 3, "epochs": 1})
    tasks = [RunTask(c.to_dict(), "out") for c in spec.configs()]
    groups = group_tasks(tasks, 5)
    assert [1 + len(g.fused_with) for g in groups] == [5, 5, 2]
    # Every run exactly once, with its own configuration, each group under one fusion key.
    assert sorted(RunConfig.from_dict(c).run_id for g in groups for c in task_configs(g)) == sorted(
        c.run_id for c in spec.configs())
    assert all(len({fusion_key(RunConfig.from_dict(c)) for c in task_configs(g)}) == 1
               for g in groups)
    other = RunTask(resolve_config(epochs=2).to_dict(), "out")  # another recipe: never fused with these
    assert len(group_tasks([*tasks[:2], other], 4)) == 2


def test_each_fused_run_trains_on_its_own_batches_in_its_own_order(monkeypatch):
    """Run k of a fused model sees, step by step, the augmented batches it sees alone."""
    train, test = digits_splits(images=32)
    configs = [resolve_config(pool=pool, alpha=alpha, beta=beta, seed=k, epochs=2, batch_size=8,
                              precision="fp32") for k, (pool, alpha, beta) in enumerate(POOLS[:3])]

    def batches_seen_by(module) -> list:
        seen, real = [], module.augment_batch
        monkeypatch.setattr(module, "augment_batch", lambda *a: seen.append(real(*a)) or seen[-1])
        return seen
    seen = batches_seen_by(loop)
    for config in configs:
        loop.fit([config], train, test, None, 10, torch.device("cpu"))
    alone = list(seen)
    together = batches_seen_by(loop)
    loop.fit(configs, train, test, None, 10, torch.device("cpu"), kernels="split")
    steps = 2 * 32 // 8
    assert len(alone) == len(together) == 3 * steps
    for k in range(3):  # alone: run after run; fused: step after step, the runs in order
        assert all(torch.equal(together[step * 3 + k], alone[k * steps + step]) for step in range(steps))


def test_fused_sweep_matches_the_unfused_sweep(tmp_path):
    fused = run_spe("sweep", *FAST, "--fuse", "4", "--out", tmp_path / "fused")
    assert fused.code == 0, fused.stderr
    alone = run_spe("sweep", *FAST, "--fuse", "off", "--out", tmp_path / "alone")
    assert alone.code == 0, alone.stderr
    together = {r["run_id"]: r for r in load_records(tmp_path / "fused")}
    apart = {r["run_id"]: r for r in load_records(tmp_path / "alone")}
    assert together.keys() == apart.keys() and len(apart) == 8
    assert {r["env"]["fused"] for r in together.values()} == {4}
    assert {r["env"]["fused"] for r in apart.values()} == {1}
    for rid, record in together.items():
        assert record["status"] == "ok"
        assert abs(record["metrics"]["final_test_acc"] - apart[rid]["metrics"]["final_test_acc"]) <= 0.5
        # --deterministic: split kernels, bit for bit each run's own training and evaluation.
        assert record["history"] == apart[rid]["history"]


GATED = """
import sys, time, pathlib
import spe_analysis.training as training
real, gate = training.train_group, pathlib.Path(sys.argv[1])
def gated(configs, out_dir, **kwargs):  # the first group trains, the next one hangs until killed
    if (gate / "first").exists():
        (gate / "in-flight").touch()
        while True:
            time.sleep(1)
    (gate / "first").touch()
    return real(configs, out_dir, **kwargs)
training.train_group = gated
from spe_analysis.cli import main
main(sys.argv[2:])
"""


def test_a_sigkilled_fused_sweep_resumes_to_exactly_the_grid(tmp_path):
    out, gate = tmp_path / "D", tmp_path / "gate"
    gate.mkdir()
    args = ["sweep", *FAST, "--fuse", "4", "--out", str(out)]
    sweep = subprocess.Popen([sys.executable, "-c", GATED, str(gate), *args], start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(1200):
            if (gate / "in-flight").exists() or sweep.poll() is not None:
                break
            subprocess.run(["sleep", "0.1"])
        assert (gate / "in-flight").exists(), sweep.communicate()
    finally:
        os.killpg(sweep.pid, signal.SIGKILL)
        sweep.wait()
    survivors = {p.name: p.read_bytes() for p in runs_dir(out).glob("*.json")}
    assert len(survivors) == 4  # the first group; the second one was in flight
    resumed = run_spe(*args)
    assert resumed.code == 0, resumed.stderr
    wanted = {c.run_id for c in build_spec({"alpha_grid": "0,1", "beta_grid": "0,1", "seeds": 2, "dataset": "digits",
                                            "epochs": 1, "train_subset": 256, "precision": "fp32"}).configs()}
    assert finished_ids(out) == wanted
    assert all(read_record(p)["env"]["fused"] == 4 for p in runs_dir(out).glob("*.json"))
    assert all((runs_dir(out) / name).read_bytes() == data for name, data in survivors.items())
    assert not list((out / "locks").glob("*.lock"))
