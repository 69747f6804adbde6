"""Global pools: values and gradients against the textbook formulas, layouts, autocast, errors."""
import pytest
import torch

from spe_analysis.errors import SpeError
from spe_analysis.pooling import POOL_NAMES, GlobalPool, LearnedPool, make_pool

MIX_WEIGHTS = [(0.5, 0.5), (1.0, 0.0), (-0.7, 1.3), (2.0, -3.5)]
EXTREMES = ("avg", "max", "min", "avgmax", "mix", "learned")  # the squeeze statistics: test_pools_squeeze.py
EXAMPLES = [{"lse": "lse:2", "gem": "gem:3", "meanstd": "meanstd:1"}.get(n, n) for n in POOL_NAMES]


def naive(name, x, alpha=0.5, beta=0.5, lam=0.5):
    """The definitions written with amax / amin / mean, autograd doing the rest."""
    avg, high, low = x.mean((2, 3), True), x.amax((2, 3), True), x.amin((2, 3), True)
    return {"avg": avg, "max": high, "min": low, "avgmax": 0.5 * avg + 0.5 * high,
            "mix": alpha * high + beta * low, "learned": lam * high + (1 - lam) * low}[name]


def tie_free(*shape, dtype=torch.float64):
    # A random permutation of distinct values: no two positions share a maximum or minimum.
    return (torch.randperm(torch.Size(shape).numel()).reshape(shape).to(dtype) / 7 - 3)


def pool_kw(name, alpha=0.5, beta=0.5):
    return {"alpha": alpha, "beta": beta} if name == "mix" else {}


@pytest.mark.parametrize("name", EXTREMES)
@pytest.mark.parametrize("shape", [(3, 4, 5, 6), (2, 3, 8, 8), (2, 2, 3, 3)])
def test_value_and_gradient_match_the_formula(name, shape):
    x = tie_free(*shape).requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    pool = make_pool(name, **pool_kw(name, 0.3, 0.9)).double()
    out = pool(x)
    ref = naive(name, x_ref, 0.3, 0.9)
    assert out.shape == (*shape[:2], 1, 1)
    torch.testing.assert_close(out, ref)
    weights = torch.randn_like(ref)
    (out * weights).sum().backward()
    (ref * weights).sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad)


@pytest.mark.parametrize("alpha,beta", MIX_WEIGHTS)
def test_mix_gradcheck_float64(alpha, beta):
    pool = make_pool("mix", alpha=alpha, beta=beta)
    x = tie_free(2, 3, 4, 5).requires_grad_()
    assert torch.autograd.gradcheck(pool, (x,))
    torch.testing.assert_close(pool(x), naive("mix", x, alpha, beta))


def test_learned_gradcheck_float64_in_input_and_weight():
    pool = make_pool("learned")
    p = torch.tensor([0.9, -0.4], dtype=torch.float64, requires_grad=True)
    x = tie_free(2, 3, 4, 5).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda p, t: torch.func.functional_call(pool, {"p": p}, (t,)), (p, x))


@pytest.mark.parametrize("name", ["mix", "learned", "max", "min", "avgmax", "avg"])
def test_channels_last_input_gives_same_values_and_gradient(name):
    x = tie_free(2, 8, 5, 7)
    pool = make_pool(name, **pool_kw(name, -1.5, 2.5)).double()
    grads = []
    for layout in (torch.contiguous_format, torch.channels_last):
        t = x.clone().contiguous(memory_format=layout).requires_grad_()
        out = pool(t)
        (out * torch.arange(16.0, dtype=out.dtype).view(2, 8, 1, 1)).sum().backward()
        grads.append((out.detach(), t.grad))
    torch.testing.assert_close(grads[0][0], grads[1][0])
    torch.testing.assert_close(grads[0][1], grads[1][1])
    if name in ("mix", "learned"):
        assert grads[1][1].is_contiguous(memory_format=torch.channels_last)


def test_mix_gradient_goes_only_to_the_extreme_positions():
    x = tie_free(1, 1, 3, 3).requires_grad_()
    make_pool("mix", alpha=2.0, beta=-3.0)(x).sum().backward()
    grad = x.grad.flatten()
    assert grad[x.detach().flatten().argmax()] == 2.0
    assert grad[x.detach().flatten().argmin()] == -3.0
    assert (grad != 0).sum() == 2


@pytest.mark.parametrize("shape", [(2, 3, 8, 8), (2, 3, 5, 7)])
def test_with_ties_each_extremum_gets_its_weight_once(shape):
    # Small integers: many positions share the max or the min of their channel.
    torch.manual_seed(0)
    x = torch.randint(-2, 3, shape).double().requires_grad_()
    out = make_pool("mix", alpha=0.5, beta=2.0)(x)
    torch.testing.assert_close(out, naive("mix", x.detach(), 0.5, 2.0))
    out.sum().backward()
    grad, values = x.grad.flatten(2), x.detach().flatten(2)
    torch.testing.assert_close(grad.sum(2), torch.full(shape[:2], 2.5, dtype=grad.dtype))
    at_max, at_min = grad == 0.5, grad == 2.0
    assert (at_max.sum(2) == 1).all() and (at_min.sum(2) == 1).all()
    assert torch.equal(values[at_max], values.amax(2).flatten())
    assert torch.equal(values[at_min], values.amin(2).flatten())


def test_mix_on_a_single_pixel_adds_both_weights():
    # Max and min sit at the same position: the gradient there is alpha + beta.
    x = torch.randn(2, 3, 1, 1, dtype=torch.float64, requires_grad=True)
    out = make_pool("mix", alpha=0.25, beta=-2.0)(x)
    torch.testing.assert_close(out, -1.75 * x)
    out.sum().backward()
    torch.testing.assert_close(x.grad, torch.full_like(x, -1.75))


def test_mix_works_under_cpu_autocast():
    conv = torch.nn.Conv2d(3, 4, 3)
    x = torch.randn(2, 3, 6, 6, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = conv(x)
        out = make_pool("mix", alpha=0.5, beta=0.5)(y)
    assert out.dtype == y.dtype == torch.bfloat16
    out.float().sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_learned_pool_starts_at_half_and_exposes_lam_and_regularizer():
    pool = make_pool("learned")
    assert isinstance(pool, LearnedPool)
    with torch.no_grad():
        assert float(pool.lam) == 0.5 and float(pool.regularizer()) == pytest.approx(0.5)
        pool.p.copy_(torch.tensor([3.0, 1.0]))
        assert float(pool.lam) == pytest.approx(0.9)
        assert float(pool.regularizer()) == pytest.approx(10.0)
    x = tie_free(2, 3, 4, 4, dtype=torch.float32)
    torch.testing.assert_close(pool(x), naive("learned", x, lam=0.9))
    (pool(x).sum() + pool.regularizer()).backward()
    assert pool.p.grad is not None and torch.isfinite(pool.p.grad).all()


@pytest.mark.parametrize("name", EXAMPLES)
def test_terms_recombine_to_the_pool(name):
    pool = make_pool(name, **pool_kw(name, 1.5, -0.5))
    assert isinstance(pool, GlobalPool)
    x = torch.randn(2, 3, 4, 4)
    a, b, wa, wb = pool.terms(x)
    torch.testing.assert_close(wa * a + wb * b, pool(x))


@pytest.mark.parametrize("name,kw,fragment", [
    ("median", {}, "unknown pool"),
    ("mix", {}, "alpha and beta"),
    ("mix", {"alpha": 0.5}, "alpha and beta"),
    ("mix", {"alpha": float("nan"), "beta": 0.5}, "finite"),
    ("mix", {"alpha": 0.5, "beta": float("inf")}, "finite"),
    ("mix", {"alpha": "half", "beta": 0.5}, "number"),
    ("avg", {"alpha": 0.5, "beta": 0.5}, "only to pool 'mix'"),
])
def test_bad_pool_input_is_one_line_spe_error(name, kw, fragment):
    with pytest.raises(SpeError) as err:
        make_pool(name, **kw)
    message = str(err.value)
    assert fragment in message and "\n" not in message
