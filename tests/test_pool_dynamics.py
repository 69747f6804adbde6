"""The learned pool's recorded dynamics (p_norm, p_turn) and the figures drawn from them."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

from conftest import assert_usage_error, run_spe
from spe_analysis.training.config import resolve_config
from spe_analysis.plots import dynamics, lam, load_sweep
from spe_analysis.plots.style import paper_style
from spe_analysis.plots.dynamics import equilibrium_turn, predicted_turns, steps_per_epoch
from spe_analysis.training.dynamics import turn_degrees
from spe_analysis.pooling import LearnedPool
from spe_analysis.records import write_record
from spe_analysis.stats import analyze
from spe_analysis.stats.cells import split_groups
from spe_analysis.training.loop import Split, fit
from synthetic_runs import synthetic_record, write_sweep

STEPS, EPOCHS = 4, 2


@pytest.fixture(autouse=True)
def _one_thread():
    """One thread: OpenMP threads of a tiny model only wait on each other on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _tiny_split(n: int, seed: int) -> Split:
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 1, 8, 8), generator=g, dtype=torch.uint8)
    return Split.make(images, torch.randint(0, 3, (n,), generator=g), (0.5,), (0.25,), "cpu")


def _fit_recording_p(pool: str):
    """Train a tiny learned-pool model; every p before and after each step, seen by hooks."""
    config = resolve_config(pool=pool, epochs=EPOCHS, batch_size=16, precision="fp32")
    seen: list[tuple[str, np.ndarray]] = []

    def snapshot(optimizer, args, kwargs, when):
        params = [p for group in optimizer.param_groups for p in group["params"]]
        pairs = [p.detach().numpy().copy() for p in params if p.shape == (2,)]
        seen.append((when, np.array(pairs)))

    handles = [register_optimizer_step_pre_hook(lambda o, a, k: snapshot(o, a, k, "before")),
               register_optimizer_step_post_hook(lambda o, a, k: snapshot(o, a, k, "after"))]
    try:
        outcome, = fit([config], _tiny_split(16 * STEPS, 0), _tiny_split(32, 1), None, 3,
                       torch.device("cpu"))
    finally:
        for handle in handles:
            handle.remove()
    return outcome, seen


def test_p_turn_and_p_norm_match_a_by_hand_computation():
    outcome, seen = _fit_recording_p("learned")
    befores = [p for when, p in seen if when == "before"]
    afters = [p for when, p in seen if when == "after"]
    assert len(befores) == len(afters) == STEPS * EPOCHS and befores[0].shape == (9, 2)
    for epoch, row in enumerate(outcome.history):
        angles = []
        for b, a in zip(befores[epoch * STEPS:(epoch + 1) * STEPS],
                        afters[epoch * STEPS:(epoch + 1) * STEPS]):
            cos = (b * a).sum(1) / (np.linalg.norm(b, axis=1) * np.linalg.norm(a, axis=1))
            angles.append(np.degrees(np.arccos(np.clip(cos, -1, 1))))
        np.testing.assert_allclose(row["p_turn"], np.mean(angles, axis=0), rtol=1e-3, atol=1e-3)
        np.testing.assert_allclose(row["p_norm"], np.linalg.norm(afters[(epoch + 1) * STEPS - 1], axis=1),
                                   rtol=1e-6)
        assert max(row["p_turn"]) > 0  # p did move


@pytest.mark.parametrize("upstream", [0.0, 1.0], ids=["lam-gradient-zero", "lam-gradient-one"])
def test_lam_and_its_gradient_stay_finite_while_the_regulariser_shrinks_p(upstream):
    """Issue 21 (4): in the committed diverged run (Fashion-MNIST, learned, seed 3) block 0's
    lam got no gradient, so the regulariser shrank |p| from 0.76 to 8.6e-19 in five epochs;
    below about 1e-20 float32's p0^2 / |p|^2 gave a NaN gradient, then 0 / 0.  lam depends on
    p's direction only: it must stay exact and finite down to float32's smallest normal |p|,
    and be bit for bit the old formula's wherever that one was finite."""
    pool = LearnedPool()
    direction = torch.tensor([0.36, 0.93])
    for exponent in range(39):
        with torch.no_grad():
            pool.p.copy_(direction * 10.0 ** -exponent)
        pool.p.grad = None
        (pool.lam * upstream).backward()
        assert pool.lam.item() == pytest.approx(0.36 ** 2 / (0.36 ** 2 + 0.93 ** 2), rel=1e-5), exponent
        assert torch.isfinite(pool.p.grad).all(), exponent
        p = pool.p.detach().clone().requires_grad_(True)
        squared = p.square()
        old = squared[0] / squared.sum()
        (old * upstream).backward()
        if torch.isfinite(old) and torch.isfinite(p.grad).all():
            assert torch.equal(pool.lam, old) and torch.equal(pool.p.grad, p.grad), exponent


def test_dynamics_are_recorded_for_learned_runs_only():
    outcome, _ = _fit_recording_p("avg")
    assert all("p_turn" not in row and "p_norm" not in row and "lam" not in row
               for row in outcome.history)


def test_turn_degrees_is_exact_for_known_angles():
    before = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.3, 0.4], [1.0, 1.0]])
    after = torch.tensor([[0.0, 2.0], [-1.0, 1e-9], [0.6, 0.8], [1.0, 1.0 + 1e-4]])
    expected = [90.0, 180.0, 0.0, math.degrees(math.atan2(1e-4, 2 + 1e-4))]
    np.testing.assert_allclose(turn_degrees(before, after).numpy(), expected, rtol=1e-4, atol=1e-5)


# sqrt(2 * 0.2 * 0.2005 / 1.9) = 0.20546 rad: the short recipe's peak lr 0.2, momentum 0.9 and
# decay 2 * pool_reg + weight_decay = 0.2 + 5e-4, worked out by hand.
PEAK_TURN = math.degrees(0.20546)


def by_hand(lr_factors_per_epoch) -> list[float]:
    """Each epoch's mean predicted turn: the turn scales with sqrt(lr), so PEAK_TURN times the
    mean of sqrt(lr factor) over the epoch's steps (the factors written out by hand)."""
    return [PEAK_TURN * float(np.mean(np.sqrt(factors))) for factors in lr_factors_per_epoch]


def test_equilibrium_turn_formula_and_schedule():
    assert equilibrium_turn(0.2, 0.2005, 0.9) == pytest.approx(PEAK_TURN, rel=1e-4)
    assert equilibrium_turn(0.1, 1e-4, 0.0) == pytest.approx(math.degrees(math.sqrt(2e-5)))
    record = synthetic_record("learned", epochs=3, batch_size=16, lr=0.2)
    record["metrics"].update(images_per_second=480.0, train_seconds=1.0)  # 10 steps an epoch
    assert steps_per_epoch(record) == 10
    # onecycle over 30 steps: warm-up (s + 1) / 10 in epoch 1, then (30 - s) / 20 to zero.
    factors = [np.arange(1, 11) / 10, np.arange(20, 10, -1) / 20, np.arange(10, 0, -1) / 20]
    np.testing.assert_allclose(predicted_turns(record), by_hand(factors), rtol=1e-4)


def test_one_avg_baseline_serves_learned_runs_of_every_pool_reg(tmp_path):
    """pool_reg changes nothing in an avg run, so avg runs join every pool_reg group."""
    records = write_sweep(tmp_path, {("avg", None, None): [90.0, 90.2, 90.1]})
    for reg, accs in ((0.1, [88.0, 88.3, 88.1]), (0.0, [90.0, 90.3, 90.2])):
        records += write_sweep(tmp_path, {("learned", None, None): accs}, pool_reg=reg)
    groups = split_groups(records, ["pool_reg"])
    assert [values for values, _ in groups] == [{"pool_reg": 0.0}, {"pool_reg": 0.1}]
    for _, members in groups:
        assert sum(r["config"]["pool"] == "avg" for r in members) == 3
        assert analyze(members)["cells"][0]["n"] == 3
    with pytest.raises(Exception, match="pool_reg"):
        analyze(records)  # learned runs that differ in pool_reg still need --group-by


def test_lambda_and_dynamics_figures_from_a_learned_run(tmp_path):
    for pool in ("avg", "learned"):
        for seed in (0, 1):
            record = synthetic_record(pool, seed=seed, epochs=3)
            for row in record["history"]:
                if pool == "learned":
                    row["p_norm"] = [0.7 - 0.1 * row["epoch"]] * 9
                    row["p_turn"] = [1.0 + row["epoch"] + seed] * 9
            write_record(tmp_path, record)
    sweep = load_sweep(tmp_path)
    with paper_style():
        lam_axes = [ax for ax in lam.plot(sweep).axes if ax.get_visible()]
        norm_ax, turn_ax = dynamics.plot(sweep).axes
    assert len(lam_axes) == 9  # one panel per block, each with both seeds, the mean, lam = 0.5
    assert all(len(ax.lines) == 4 for ax in lam_axes)
    seeds_and_mean = [line.get_ydata() for line in turn_ax.lines[:3]]
    np.testing.assert_allclose(seeds_and_mean, [[2, 3, 4], [3, 4, 5], [2.5, 3.5, 4.5]])
    predicted = turn_ax.lines[3]
    assert predicted.get_linestyle() == "--"
    # 1000 images in 3 epochs of batch 128: 3 steps an epoch; onecycle over 9 steps.
    factors = [np.array([1, 2, 3]) / 3, np.array([6, 5, 4]) / 6, np.array([3, 2, 1]) / 6]
    np.testing.assert_allclose(predicted.get_ydata(), by_hand(factors), rtol=1e-4)
    np.testing.assert_allclose(norm_ax.lines[2].get_ydata(), [0.6, 0.5, 0.4])
    for kind in ("lambda", "dynamics"):
        result = run_spe("plot", tmp_path, "--kind", kind, "--out", tmp_path / "f")
        assert result.code == 0 and (tmp_path / "f" / f"{kind}.png").stat().st_size > 0


def test_dynamics_figure_needs_recorded_dynamics(tmp_path):
    for record in write_sweep(tmp_path, {("avg", None, None): [90.0, 90.1],
                                         ("learned", None, None): [89.0, 89.5]}):
        for row in record["history"]:  # as recorded before p_norm and p_turn existed
            row.pop("p_norm", None), row.pop("p_turn", None)
        write_record(tmp_path, record)
    assert_usage_error(run_spe("plot", tmp_path, "--kind", "dynamics"), "p_norm")


def test_other_cells_stay_in_the_group_of_their_own_pool_reg(tmp_path):
    """Only the avg baseline is shared: a mix cell's runs are counted in one group, not all."""
    records = write_sweep(tmp_path, {("avg", None, None): [90.0, 90.2],
                                     ("mix", 1.0, 0.0): [89.0, 89.2],
                                     ("learned", None, None): [88.0, 88.1]})
    records += write_sweep(tmp_path, {("learned", None, None): [90.0, 90.3]}, pool_reg=0.0)
    groups = {values["pool_reg"]: members for values, members in split_groups(records, ["pool_reg"])}
    assert sorted(r["config"]["pool"] for r in groups[0.1]) == ["avg"] * 2 + ["learned"] * 2 + ["mix"] * 2
    assert sorted(r["config"]["pool"] for r in groups[0.0]) == ["avg"] * 2 + ["learned"] * 2
