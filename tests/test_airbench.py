"""The airbench network and recipe: shapes, parameters counted by hand, hosts in every conv
group, a frozen layer that whitens, alternating flips, lookahead, TTA at evaluation only, and a
CIFAR slice learnt well above chance."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from spe_analysis.models.airbench import AirbenchNet, BatchNorm, PatchWhitening, fit_whitening
from spe_analysis.attention import CBAMChannel, ECA, SE, SPEM
from spe_analysis.training.augment import alternate_flips, tta_logits
from spe_analysis.training.config import PRESETS, resolve_config
from spe_analysis.data import load_dataset
from spe_analysis.data.splits import balanced_subset
from spe_analysis.training.lookahead import DECAY, EVERY, Lookahead
from spe_analysis.models import make_model
from spe_analysis.pooling import LearnedPool, MixPool
from spe_analysis.training import train_run
from spe_analysis.training.loop import Split, fit, make_optimizer
from spe_analysis.training.schedule import lr_factor


def conv_group_parameters(c_in: int, c_out: int) -> int:
    """Two 3x3 convolutions without bias and two BatchNorms (scale and shift) of c_out."""
    return 9 * c_in * c_out + 9 * c_out * c_out + 2 * (2 * c_out)


def se_parameters(c: int) -> int:
    hidden = max(c // 16, 4)
    return (c * hidden + hidden) + (hidden * c + c)


def test_parameter_count_is_the_count_by_hand():
    whiten = 24 * 3 * 2 * 2 + 24  # 2 * 3 * 2^2 = 24 filters of 3x2x2, with bias
    plain = (whiten + conv_group_parameters(24, 64) + conv_group_parameters(64, 256)
             + conv_group_parameters(256, 256) + 256 * 10)
    assert plain == 1_972_792
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(make_model("airbench", attention="none")) == plain
    assert count(make_model("airbench", attention="se")) == plain + se_parameters(64) + 2 * se_parameters(256)
    # trainable: no BatchNorm scale, no whitening weights
    trainable = sum(p.numel() for p in make_model("airbench").parameters() if p.requires_grad)
    assert trainable == count(make_model("airbench")) - 24 * 12 - 2 * (64 + 256 + 256)


@pytest.mark.parametrize("size,channels", [(32, 3), (28, 1)])
def test_shapes_through_the_network(size, channels):
    model = make_model("airbench", num_classes=7, in_channels=channels, attention="se")
    x = torch.randn(5, channels, size, size)
    shapes = []
    hooks = [g.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape))) for g in model.groups]
    assert model(x).shape == (5, 7)
    side = size - 1  # the 2x2 whitening has no padding
    expected = []
    for width in (64, 256, 256):
        side //= 2
        expected.append((5, width, side, side))
    assert shapes == expected
    for hook in hooks:
        hook.remove()


@pytest.mark.parametrize("attention,host", [("se", SE), ("eca", ECA), ("cbam", CBAMChannel), ("spem", SPEM)])
@pytest.mark.parametrize("pool", ["mix", "learned"])
def test_each_host_sits_at_the_end_of_each_conv_group(attention, host, pool):
    mixed = dict(alpha=1.0, beta=0.5) if pool == "mix" else {}
    model = make_model("airbench", attention=attention, pool=pool, **mixed)
    for group, width in zip(model.groups, (64, 256, 256)):
        last = group[-1]
        assert isinstance(last, host)
        assert isinstance(last.pool, MixPool if pool == "mix" else LearnedPool)
        assert group[-2].__class__ is torch.nn.GELU  # after the group's last activation
        assert [m.num_features for m in group if isinstance(m, BatchNorm)] == [width, width]
    assert sum(isinstance(m, host) for m in model.modules()) == 3


def test_whitening_is_frozen_and_whitens_the_training_patches():
    images = load_dataset("digits").train_x[:1000].float() / 16.0  # 8x8 grey, values 0..16
    images = (images - images.mean()) / images.std()
    layer = PatchWhitening(1)
    fit_whitening(layer, images)
    assert not layer.weight.requires_grad and layer.bias.requires_grad
    torch.nn.init.zeros_(layer.bias)
    with torch.no_grad():
        out = layer(images).permute(0, 2, 3, 1).reshape(-1, layer.out_channels)
    half = out[:, :4]  # the other half is the same directions with the sign flipped
    second_moment = half.T @ half / len(half)
    assert torch.allclose(second_moment, torch.eye(4), atol=0.02)
    assert torch.equal(out[:, 4:], -half)


def test_whitening_comes_from_the_runs_own_training_images():
    model = make_model("airbench")
    before = model.whiten.weight.clone()
    model.prepare(torch.randn(64, 3, 32, 32) * torch.tensor([1.0, 2.0, 3.0]).view(1, 3, 1, 1))
    assert not torch.equal(before, model.whiten.weight)


def test_set_epoch_freezes_the_whitening_bias_after_its_epochs():
    model = make_model("airbench")
    model.set_epoch(3, whiten_bias_epochs=3)
    assert model.whiten.bias.requires_grad
    model.set_epoch(4, whiten_bias_epochs=3)
    assert not model.whiten.bias.requires_grad


def test_batchnorm_shifts_get_the_scaled_learning_rate_and_decay():
    config = resolve_config(model="airbench")
    optimizer = make_optimizer(make_model("airbench"), config)
    main, shifts = optimizer.param_groups
    assert len(shifts["params"]) == 6  # two BatchNorms in each of three groups
    assert shifts["lr"] == pytest.approx(1.5 * 64) and main["lr"] == pytest.approx(1.5)
    assert shifts["weight_decay"] * shifts["lr"] == pytest.approx(main["weight_decay"] * main["lr"])


def test_triangle_schedule_rises_to_one_and_falls_to_its_end():
    config = resolve_config(model="airbench", epochs=10)
    steps = 48
    total = 10 * steps
    factors = [lr_factor(config, s, steps) for s in range(total + 1)]
    assert factors[0] == pytest.approx(0.2)
    peak = max(range(total + 1), key=factors.__getitem__)
    assert abs(peak - 0.23 * total) <= 1 and factors[peak] == pytest.approx(1.0, abs=0.01)
    assert factors[-1] == pytest.approx(0.07)


def test_alternating_flips_show_every_image_both_ways_every_two_epochs():
    first = torch.rand(1000, generator=torch.Generator().manual_seed(0)) < 0.5
    assert torch.equal(alternate_flips(first, 1), first) and torch.equal(alternate_flips(first, 3), first)
    assert torch.equal(alternate_flips(first, 2), ~first)


def test_lookahead_pulls_weights_to_their_average_and_ends_on_it():
    layer = torch.nn.Linear(1, 1, bias=False)
    values = [0.0]  # the average starts at the initial weight
    with torch.no_grad():
        layer.weight.fill_(0.0)
    lookahead = Lookahead(layer, total_steps=2 * EVERY)
    for step in range(1, 2 * EVERY + 1):
        with torch.no_grad():
            layer.weight.add_(1.0)  # a stand-in optimiser step
        lookahead.after_step(step)
        if step % EVERY == 0:
            decay = DECAY * (step / (2 * EVERY)) ** 3
            target = decay * values[-1] + (1 - decay) * (values[-1] + EVERY)
            values.append(target)
            assert layer.weight.item() == pytest.approx(target)


def test_test_time_augmentation_averages_the_published_views():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.LazyLinear(5))
    x = torch.randn(2, 3, 8, 8)
    model(x)
    mirror = lambda v: 0.5 * (model(v) + model(v.flip(3)))  # noqa: E731
    padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
    expected = 0.5 * mirror(x) + 0.25 * mirror(padded[:, :, :8, :8]) + 0.25 * mirror(padded[:, :, 2:, 2:])
    assert torch.allclose(tta_logits(model, x, 2), expected, atol=1e-6)
    assert torch.allclose(tta_logits(model, x, 1), mirror(x), atol=1e-6)
    assert torch.equal(tta_logits(model, x, 0), model(x))


def test_tta_is_applied_at_evaluation_only(tmp_path):
    """Training with and without TTA is the same run step for step; only the final
    evaluation differs, and it is what the record reports."""
    common = dict(dataset="digits", epochs=2, seed=1, precision="fp32")
    plain = train_run(resolve_config(**common), tmp_path / "plain", device="cpu", deterministic=True)
    tta = train_run(resolve_config(**common, tta=2), tmp_path / "tta", device="cpu", deterministic=True)
    assert plain["run_id"] != tta["run_id"] and tta["config"]["tta"] == 2 and "tta" not in plain["config"]
    for before, after in zip(plain["history"], tta["history"]):
        assert {k: v for k, v in after.items() if not k.endswith("_tta")} == before
    assert "test_acc_tta" not in tta["history"][0]
    last = tta["history"][-1]
    assert tta["metrics"]["final_test_acc"] == last["test_acc_tta"]
    assert tta["metrics"]["final_test_acc_plain"] == last["test_acc"] == plain["metrics"]["final_test_acc"]


def test_airbench_preset_keeps_every_hyperparameter_in_one_place():
    config = resolve_config(model="airbench", epochs=3)
    assert config.preset == "airbench" and config.epochs == 3
    for key, value in PRESETS["airbench"].items():
        if key != "epochs":
            assert getattr(config, key) == value, key
    assert resolve_config(model="airbench", preset="short").schedule == "onecycle"


@pytest.mark.slow
def test_airbench_recipe_learns_a_cifar_slice(cifar_jpeg):
    """The whole recipe (whitening, lookahead, alternating flips, TTA) on 1,024 balanced training
    images and every 20th test image: 24 steps take it far above chance (about 40% here)."""
    data = load_dataset(f"imagefolder:{cifar_jpeg}")
    config = resolve_config(dataset=f"imagefolder:{cifar_jpeg}", model="airbench", batch_size=128,
                            epochs=3, precision="fp32")
    device = torch.device("cpu")
    chosen = torch.from_numpy(balanced_subset(data.train_y.numpy(), 1024, len(data.classes)))
    train = Split.make(data.train_x[chosen], data.train_y[chosen], data.mean, data.std, device)
    test = Split.make(data.test_x[::20], data.test_y[::20], data.mean, data.std, device)  # every class
    outcome, = fit([config], train, test, None, len(data.classes), device)
    assert outcome.status == "ok" and len(outcome.history) == 3
    last = outcome.history[-1]
    assert last["test_acc"] > 25.0 and last["test_acc_tta"] > 25.0  # chance is 10%
