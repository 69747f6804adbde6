"""The squeeze statistics lse, gem, meanstd and dct against their formulas written in NumPy:
values and closed-form gradients on random input, the lse limits, dct's (0, 0) component."""
import math

import numpy as np
import pytest
import torch

from spe_analysis.errors import SpeError
from spe_analysis.pooling import make_pool
from spe_analysis.pooling.squeeze import DCT_TOP16_U, DCT_TOP16_V, GEM_EPS, STD_EPS, dct_frequency

SHAPES = [(2, 16, 8, 8), (3, 32, 5, 7), (2, 8, 4, 4)]


def _numpy_dct(size: int, u: int) -> np.ndarray:
    t = np.arange(size)
    return np.cos(np.pi * u * (t + 0.5) / size) * np.sqrt((1 if u == 0 else 2) / size)


def dct_weights(channels, height, width):
    """(C, H, W): channel c of group c * 16 // C at its group's top-16 frequency."""
    return np.stack([np.outer(_numpy_dct(height, dct_frequency(DCT_TOP16_U[g], height)),
                              _numpy_dct(width, dct_frequency(DCT_TOP16_V[g], width)))
                     for g in (np.arange(channels) * 16 // channels)])


def formula(label, x):
    """(value (B, C), d value / d x (B, C, H*W)) in NumPy, x of shape (B, C, H, W)."""
    name, _, text = label.partition(":")
    param = float(text) if text else None
    flat = x.reshape(*x.shape[:2], -1)
    n = flat.shape[2]
    if name == "lse":
        scaled = param * flat
        top = scaled.max(2, keepdims=True)
        value = (np.log(np.exp(scaled - top).mean(2)) + top[..., 0]) / param
        grad = np.exp(scaled - top) / np.exp(scaled - top).sum(2, keepdims=True)  # softmax(r x)
    elif name == "gem":
        clamped = np.maximum(flat, GEM_EPS)
        power_mean = (clamped ** param).mean(2)
        value = power_mean ** (1 / param)
        grad = (power_mean ** (1 / param - 1))[..., None] * clamped ** (param - 1) / n * (flat > GEM_EPS)
    elif name == "meanstd":
        mean = flat.mean(2)
        std = np.sqrt(flat.var(2) + STD_EPS)
        value = mean + param * std
        grad = 1 / n + param * (flat - mean[..., None]) / (n * std[..., None])
    else:  # dct
        weight = dct_weights(*x.shape[1:]).reshape(x.shape[1], -1)
        value = (flat * weight).sum(2)
        grad = np.broadcast_to(weight, flat.shape)
    return value, grad


@pytest.mark.parametrize("label", ["lse:0.5", "lse:4", "gem:3", "gem:1.5", "meanstd:1",
                                   "meanstd:-0.5", "dct"])
@pytest.mark.parametrize("shape", SHAPES)
def test_value_and_gradient_match_the_numpy_formula(label, shape):
    torch.manual_seed(0)
    x = torch.randn(shape, dtype=torch.float64)
    if label.startswith("gem"):
        x = x.abs() + 0.1 * torch.randn(shape, dtype=torch.float64)  # mostly positive, some below eps
    pool = make_pool(label)
    x.requires_grad_()
    out = pool(x)
    assert out.shape == (*shape[:2], 1, 1)
    out.sum().backward()
    value, grad = formula(label, x.detach().numpy())
    np.testing.assert_allclose(out.detach().numpy()[..., 0, 0], value, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x.grad.numpy().reshape(grad.shape), grad, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("label", ["lse:2", "gem:3", "meanstd:1", "dct"])
def test_channels_last_and_bf16_input_give_the_float_value(label):
    x = torch.randn(2, 16, 8, 8)
    reference = make_pool(label)(x)
    torch.testing.assert_close(make_pool(label)(x.contiguous(memory_format=torch.channels_last)), reference)
    low = make_pool(label)(x.bfloat16())
    assert low.dtype == torch.bfloat16
    torch.testing.assert_close(low.float(), make_pool(label)(x.bfloat16().float()), atol=2e-2, rtol=1e-2)


def test_lse_goes_from_avg_at_small_r_to_max_at_large_r():
    torch.manual_seed(1)
    x = torch.randn(4, 8, 6, 6, dtype=torch.float64)
    avg, high = x.mean((2, 3), keepdim=True), x.amax((2, 3), keepdim=True)
    torch.testing.assert_close(make_pool("lse:1e-6")(x), avg, atol=1e-5, rtol=0)
    # (1/r) log mean exp(r x) lies within log(HW) / r below the max (plus float32 rounding).
    torch.testing.assert_close(make_pool("lse:1e4")(x), high, atol=math.log(36) / 1e4 + 1e-5, rtol=0)
    values = [make_pool(f"lse:{r}")(x) for r in (0.1, 1, 10, 100)]
    assert all((b >= a - 1e-12).all() for a, b in zip(values, values[1:]))  # monotone in r


def test_lse_is_stable_where_exp_overflows():
    x = torch.full((1, 2, 3, 3), 500.0)
    torch.testing.assert_close(make_pool("lse:10")(x), torch.full((1, 2, 1, 1), 500.0))


def test_dct_zero_frequency_component_is_avg_times_the_square_root_of_the_area():
    assert (DCT_TOP16_U[0], DCT_TOP16_V[0]) == (0, 0)
    x = torch.randn(2, 32, 8, 8, dtype=torch.float64)
    first_group = make_pool("dct")(x)[:, :2]  # 32 channels: 2 per group, group 0 at (0, 0)
    torch.testing.assert_close(first_group, math.sqrt(8 * 8) * x[:, :2].mean((2, 3), keepdim=True))


def test_dct_frequencies_follow_fcanet_on_its_sizes_and_stay_on_the_grid_below_seven():
    assert [dct_frequency(6, s) for s in (7, 14, 8, 16, 32)] == [6, 12, 6, 12, 24]
    assert all(dct_frequency(u, s) < s for s in range(1, 7) for u in range(7))


def test_gem_gives_negative_values_no_weight_and_no_gradient():
    x = torch.tensor([[[[2.0, -5.0], [-1.0, 2.0]]]], requires_grad=True)
    out = make_pool("gem:3")(x)
    expected = ((8 + 8 + 2 * GEM_EPS ** 3) / 4) ** (1 / 3)
    assert out.item() == pytest.approx(expected)
    out.sum().backward()
    assert x.grad[0, 0, 0, 1] == 0 and x.grad[0, 0, 1, 0] == 0


@pytest.mark.parametrize("label", ["lse:2", "gem:3", "meanstd:1", "dct"])
def test_gradcheck_float64(label):
    x = (torch.rand(2, 16, 4, 4, dtype=torch.float64) + 0.1).requires_grad_()
    assert torch.autograd.gradcheck(make_pool(label), (x,))


@pytest.mark.parametrize("label,fragment", [
    ("lse", "needs its temperature"), ("gem", "needs its exponent"), ("lse:0", "positive"),
    ("gem:-1", "positive"), ("meanstd:nan", "finite"), ("lse:hot", "number"),
    ("dct:2", "takes no parameter"), ("avg:1", "takes no parameter"),
])
def test_bad_parameter_is_one_line_spe_error(label, fragment):
    with pytest.raises(SpeError) as err:
        make_pool(label)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_labels_are_written_one_way():
    from spe_analysis.pool_labels import pool_label, split_label
    assert pool_label("lse", 4.0) == "lse:4" and pool_label("lse", 0.1) == "lse:0.1"
    assert pool_label("lse", 1 / 3) == f"lse:{1 / 3!r}"  # exact, not rounded to '0.333333'
    assert split_label("lse:0.25") == ("lse", 0.25) and split_label("pkg.mod:make") == ("pkg.mod:make", None)
