"""Attention hosts: shapes and gradients with every pool, SPEM as the official code, errors."""
import math

import pytest
import torch
from torch import nn

from spe_analysis.attention import ATTENTION_NAMES, eca_kernel_size, make_attention
from spe_analysis.errors import SpeError
from spe_analysis.pooling import POOL_NAMES, make_pool

POOLS = [{"lse": "lse:2", "gem": "gem:3", "meanstd": "meanstd:1"}.get(n, n) for n in POOL_NAMES]
SPEM_INIT_GATE = torch.sigmoid(torch.tensor(-2.0)) * torch.sigmoid(torch.tensor(-1.0))


def pool_kw(pool):
    return {"alpha": 0.75, "beta": -0.25} if pool == "mix" else {}


@pytest.mark.parametrize("host", ATTENTION_NAMES)
@pytest.mark.parametrize("pool", POOLS)
def test_every_host_with_every_pool_runs_forward_and_backward(host, pool):
    torch.manual_seed(0)
    module = make_attention(host, 8, pool=pool, **pool_kw(pool))
    x = torch.randn(2, 8, 5, 5, requires_grad=True)
    out = module(x)
    assert out.shape == x.shape
    out.square().sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for name, param in module.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name


def test_none_is_the_identity():
    x = torch.randn(2, 4, 3, 3)
    assert torch.equal(make_attention("none", 4, pool="max")(x), x)


def test_pool_module_is_used_and_its_parameters_belong_to_the_host():
    pool = make_pool("learned")
    host = make_attention("se", 16, pool=pool)
    assert host.pool is pool
    assert any(p is pool.p for p in host.parameters())


@pytest.mark.parametrize("pool", POOLS)
def test_spem_starts_from_the_constant_gate(pool):
    x = torch.randn(2, 6, 4, 4)
    out = make_attention("spem", 6, pool=pool, **pool_kw(pool))(x)
    torch.testing.assert_close(out, x * SPEM_INIT_GATE)
    assert SPEM_INIT_GATE.item() == pytest.approx(1 / (1 + math.e**2) / (1 + math.e))
    assert SPEM_INIT_GATE.item() == pytest.approx(0.032, abs=5e-4)


def randomize(module):
    torch.manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p))
    return module


def official_spem(x, w1, b1, w2, b2, first, second):
    """The official SPEM forward (REFERENCE.md) with the lam / 1 - lam weights given."""
    fmax, fmin = x.amax((2, 3), True), x.amin((2, 3), True)
    a, m = w2 * fmax + b2, w2 * fmin + b2
    mix = w1 * (first * a + second * m) + b1
    return torch.sigmoid(a + m) * torch.sigmoid(mix) * x


def test_spem_with_learned_pool_is_the_official_code():
    spem = randomize(make_attention("spem", 5, pool="learned"))
    x = torch.randn(3, 5, 4, 4)
    p0, p1 = spem.pool.p.detach()
    lam = p0**2 / (p0**2 + p1**2)
    expected = official_spem(x, spem.w1, spem.b1, spem.w2, spem.b2, lam, 1 - lam)
    torch.testing.assert_close(spem(x), expected)


def test_spem_with_mix_replaces_lam_by_alpha_and_beta():
    spem = randomize(make_attention("spem", 5, pool="mix", alpha=1.5, beta=-0.5))
    x = torch.randn(3, 5, 4, 4)
    expected = official_spem(x, spem.w1, spem.b1, spem.w2, spem.b2, 1.5, -0.5)
    torch.testing.assert_close(spem(x), expected)


def test_spem_with_a_single_statistic_uses_it_for_both_terms():
    spem = randomize(make_attention("spem", 5, pool="avg"))
    x = torch.randn(3, 5, 4, 4)
    r = spem.w2 * x.mean((2, 3), True) + spem.b2
    expected = torch.sigmoid(2 * r) * torch.sigmoid(spem.w1 * r + spem.b1) * x
    torch.testing.assert_close(spem(x), expected)


def test_se_is_squeeze_excitation_with_reduction_16_and_at_least_4_hidden():
    assert make_attention("se", 16).fc[0].out_channels == 4
    assert make_attention("se", 256).fc[0].out_channels == 16
    se = randomize(make_attention("se", 32, pool="max"))
    x = torch.randn(2, 32, 3, 3)
    squeezed = x.amax((2, 3))
    hidden = torch.relu(squeezed @ se.fc[0].weight.flatten(1).T + se.fc[0].bias)
    gate = torch.sigmoid(hidden @ se.fc[2].weight.flatten(1).T + se.fc[2].bias)
    torch.testing.assert_close(se(x), x * gate[..., None, None])


@pytest.mark.parametrize("channels,size", [(4, 3), (16, 3), (64, 3), (256, 5), (2048, 7)])
def test_eca_kernel_is_adaptive_odd_and_at_least_3(channels, size):
    assert eca_kernel_size(channels) == size
    assert make_attention("eca", channels).conv.kernel_size == (size,)


def test_eca_convolves_the_pooled_statistic_across_channels():
    eca = randomize(make_attention("eca", 8, pool="min"))
    x = torch.randn(2, 8, 3, 3)
    y = nn.functional.conv1d(x.amin((2, 3)).unsqueeze(1), eca.conv.weight, padding=1)
    torch.testing.assert_close(eca(x), x * torch.sigmoid(y).view(2, 8, 1, 1))


def test_cbam_pool_replaces_the_average_branch_and_keeps_the_max_branch():
    cbam = randomize(make_attention("cbam", 16, pool="mix", alpha=0.5, beta=0.5))
    x = torch.randn(2, 16, 3, 3)
    mix = 0.5 * x.amax((2, 3), True) + 0.5 * x.amin((2, 3), True)
    gate = torch.sigmoid(cbam.mlp(mix) + cbam.mlp(x.amax((2, 3), True)))
    torch.testing.assert_close(cbam(x), x * gate)


def test_hosts_keep_the_input_dtype_under_autocast():
    x = torch.randn(2, 8, 4, 4)
    conv = nn.Conv2d(8, 8, 1)
    for host in ATTENTION_NAMES:
        module = make_attention(host, 8, pool="learned")
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = conv(x)
            out = module(y)
        assert out.dtype == torch.bfloat16, host


@pytest.mark.parametrize("args,kw,fragment", [
    (("transformer", 8), {}, "unknown attention"),
    (("se", 8), {"pool": "median"}, "unknown pool"),
    (("se", 8), {"pool": "mix"}, "alpha and beta"),
    (("se", 0), {}, "positive integer"),
    (("se", 8), {"pool": make_pool("avg"), "alpha": 0.5}, "alpha/beta"),
])
def test_bad_attention_input_is_one_line_spe_error(args, kw, fragment):
    with pytest.raises(SpeError) as err:
        make_attention(*args, **kw)
    assert fragment in str(err.value) and "\n" not in str(err.value)

