"""CIFAR ResNets: reference parameter counts, every backbone runs, attention placement, helpers."""
import math

import pytest
import torch
from torch import nn

from spe_analysis.models import resnet
from spe_analysis.attention import make_attention
from spe_analysis.errors import SpeError
from spe_analysis.models import MODEL_NAMES, make_model
from spe_analysis.pooling import LearnedPool
from spe_analysis.training.dynamics import RunPools


def n_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name,classes,count", [
    ("resnet164", 10, 1_704_154), ("resnet164", 100, 1_727_284),
    ("resnet20", 10, 272_474), ("resnet56", 10, 855_770), ("resnet110", 10, 1_730_714),
])
def test_plain_parameter_counts_match_the_reference(name, classes, count):
    assert n_params(make_model(name, num_classes=classes)) == count


@pytest.mark.parametrize("name,attention,pool", [
    ("resnet20", "none", "avg"), ("resnet20", "spem", "learned"), ("resnet20", "eca", "min"),
    ("resnet56", "se", "mix"), ("resnet110", "cbam", "max"),
])
def test_basic_block_backbones_train_on_small_inputs(name, attention, pool):
    torch.manual_seed(0)
    kw = {"alpha": 0.5, "beta": 0.5} if pool == "mix" else {}
    model = make_model(name, num_classes=5, in_channels=1, attention=attention, pool=pool, **kw)
    x, y = torch.randn(2, 1, 8, 8), torch.tensor([0, 3])
    logits = model(x)
    assert logits.shape == (2, 5)
    penalty = RunPools(model).penalty()
    (nn.functional.cross_entropy(logits, y) + (0 if penalty is None else 0.1 * penalty)).backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_resnet164_with_spem_runs_at_32x32():
    model = make_model("resnet164", num_classes=100, attention="spem", pool="learned")
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 100)
    assert len(RunPools(model).epoch()["lam"]) == 54


@pytest.mark.parametrize("attention", ["se", "eca", "cbam", "spem"])
def test_every_host_fits_in_a_bottleneck_and_28x28_input_works(attention, monkeypatch):
    # A bottleneck model with one block per stage is enough to exercise the wiring.
    monkeypatch.setitem(resnet.ARCHITECTURES, "resnet164", (resnet.Bottleneck, 1))
    model = make_model("resnet164", num_classes=10, in_channels=1, attention=attention,
                       pool="avgmax")
    blocks = [m for m in model.modules() if isinstance(m, resnet.Bottleneck)]
    host = type(make_attention(attention, 16, pool="avgmax"))
    assert len(blocks) == 3 and all(isinstance(b.attention, host) for b in blocks)
    out = model(torch.randn(2, 1, 28, 28))
    assert out.shape == (2, 10)
    out.sum().backward()
    for block in blocks:  # every host is on the gradient path, nothing blows up
        grads = [p.grad for p in block.attention.parameters()]
        assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)


def test_attention_sits_after_the_last_bn_of_every_block_before_the_residual_add():
    model = make_model("resnet20", attention="spem", pool="avg")
    blocks = [b for stage in (model.layer1, model.layer2, model.layer3) for b in stage]
    assert len(blocks) == 9
    seen = []
    for block in blocks:
        block.attention.register_forward_hook(
            lambda m, inp, out, block=block: seen.append((block, inp[0], out)))
        block.bn2.register_forward_hook(lambda m, inp, out: seen.append(("bn2", out)))
    with torch.no_grad():
        model(torch.randn(2, 3, 8, 8))
    for bn_call, attention_call in zip(seen[::2], seen[1::2]):
        assert bn_call[0] == "bn2" and attention_call[1] is bn_call[1]
        # The output is gated, not yet summed with the residual or passed through ReLU.
        assert (attention_call[2] < 0).any()


def test_initialisation_follows_bearpaw():
    torch.manual_seed(0)
    model = make_model("resnet56")
    conv = model.layer3[0].conv2
    expected = math.sqrt(2.0 / (3 * 3 * conv.out_channels))
    assert conv.weight.std().item() == pytest.approx(expected, rel=0.05)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)


def test_the_pools_penalty_and_recorded_lams():
    plain = make_model("resnet20", attention="se", pool="avg")
    assert RunPools(plain).penalty() is None and RunPools(plain).epoch() == {}
    model = make_model("resnet20", attention="spem", pool="learned")
    pools = [m for m in model.modules() if isinstance(m, LearnedPool)]
    assert RunPools(model).epoch()["lam"] == [0.5] * 9
    with torch.no_grad():
        for depth, pool in enumerate(pools):
            pool.p.copy_(torch.tensor([float(depth + 1), 1.0]))
    lams = RunPools(model).epoch()["lam"]
    assert lams == pytest.approx([(d + 1) ** 2 / ((d + 1) ** 2 + 1) for d in range(9)])
    assert lams == sorted(lams)  # depth order: layer1 first
    regularizer = RunPools(model).penalty()
    assert float(regularizer.detach()) == pytest.approx(sum((d + 1) ** 2 + 1 for d in range(9)))
    regularizer.backward()
    assert all(pool.p.grad is not None for pool in pools)


def test_each_block_gets_its_own_pool():
    model = make_model("resnet20", attention="se", pool="learned")
    pools = [m for m in model.modules() if isinstance(m, LearnedPool)]
    assert len({id(p.p) for p in pools}) == 9


@pytest.mark.parametrize("kw,fragment", [
    ({"name": "resnet18"}, "unknown model"),
    ({"attention": "nonlocal"}, "unknown attention"),
    ({"pool": "median"}, "unknown pool"),
    ({"pool": "mix"}, "alpha and beta"),
    ({"pool": "mix", "alpha": 0.5, "beta": float("nan")}, "finite"),
    ({"pool": "avg", "alpha": 0.5}, "only to pool 'mix'"),
    ({"num_classes": 0}, "num_classes"),
])
def test_bad_model_input_is_one_line_spe_error(kw, fragment):
    kw = {"name": "resnet20", **kw}
    with pytest.raises(SpeError) as err:
        make_model(**kw)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_model_names_are_the_public_ones():
    assert MODEL_NAMES == ("resnet20", "resnet56", "resnet110", "resnet164", "airbench")


def test_channels_last_model_matches_contiguous():
    torch.manual_seed(0)
    model = make_model("resnet20", attention="spem", pool="mix", alpha=1.0, beta=-0.5)
    x = torch.randn(2, 3, 8, 8)
    outs = []
    for layout in (torch.contiguous_format, torch.channels_last):
        model.zero_grad()
        model.to(memory_format=layout)
        out = model(x.contiguous(memory_format=layout))
        out.sum().backward()
        outs.append((out.detach(), model.conv1.weight.grad.clone()))
    torch.testing.assert_close(outs[0][0], outs[1][0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(outs[0][1], outs[1][1], rtol=1e-3, atol=1e-4)
