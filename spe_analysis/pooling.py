"""Global pooling strategies: (B, C, H, W) -> (B, C, 1, 1).

Every pool is the weighted sum of two per-channel statistics, ``wa * a + wb * b``, and says
so through :meth:`GlobalPool.terms`; a single-statistic pool reports ``(s, s, 1/2, 1/2)``.
Attention hosts that look inside the pool (SPEM reweights max and min separately) use
``terms``; every other host just calls the pool.

``max``/``min``/``mix``/``learned`` route their gradient to the one position holding each
extremum, as ``torch.max(dim)`` does, instead of spreading it over ties as ``amax`` does;
on tie-free input the two agree.  ``mix`` and ``learned`` find max and min with their
indices in one autograd node that writes one gradient tensor, which keeps
``alpha * max + beta * min`` within about 2x the cost of a plain mean, forward plus
backward (``benchmarks/bench_pooling.py``); ``amax + amin`` through autograd costs 8-15x.
"""
from __future__ import annotations

import functools
import math

import torch
from torch import nn

from . import names
from .errors import finite
from .errors import SpeError, choose


FOLD = 8  # see _extreme


def _extreme(flat: torch.Tensor, largest: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Max (or min) over the last axis of (B, C, L), with its index.

    torch's index-tracking reduction is not vectorised on CPU (about 3x a plain amax), so
    there a contiguous L is first folded into FOLD rows and reduced across them with a
    vectorised amax; the indexed reduction then runs on L / FOLD values, and one gather of
    FOLD candidates per channel says which row held the extremum.  On GPUs, where each extra
    kernel launch costs more than the reduction, the indexed reduction runs directly.
    """
    batch, channels, length = flat.shape
    rows = math.gcd(length, FOLD) if flat.stride(2) == 1 and flat.device.type == "cpu" else 1
    if rows == 1:  # GPU, channels_last (strided L) or L not divisible: reduce directly
        return flat.max(2) if largest else flat.min(2)
    blocks = flat.view(batch, channels, rows, length // rows)
    folded = blocks.amax(2) if largest else blocks.amin(2)
    value, column = folded.max(2) if largest else folded.min(2)
    candidates = blocks.gather(3, column[:, :, None, None].expand(batch, channels, rows, 1))
    row = candidates.squeeze(3).argmax(2) if largest else candidates.squeeze(3).argmin(2)
    return value, row * (length // rows) + column


@functools.lru_cache(maxsize=64)
def _cell_offsets(batch: int, channels: int, batch_stride: int, channel_stride: int,
                  device: torch.device) -> torch.Tensor:
    """Memory offset of each (sample, channel)'s first element; cached, as every step reuses it."""
    return (torch.arange(batch, device=device)[:, None] * batch_stride
            + torch.arange(channels, device=device) * channel_stride)


def _put(grad: torch.Tensor, at: torch.Tensor, values: torch.Tensor) -> None:
    """``grad[b, c].flatten()[at[b, c]] = values[b, c]`` for (B, C, H, W) ``grad`` of either layout.

    On CPU through memory offsets with index_put_: scatter_ on bf16 CPU tensors is 50-150x
    slower than on fp32 (it made mix cost 1.2x avg per bf16 training step).  On CUDA scatter_
    measured faster (bench_pooling on an H200, channels_last: 2.5x avg against 3.3x).
    """
    flat = grad.view(grad.shape[0], grad.shape[1], -1)
    if grad.device.type != "cpu":
        flat.scatter_(2, at.unsqueeze(2), values.unsqueeze(2))
        return
    batch_stride, channel_stride, position_stride = flat.stride()
    cells = _cell_offsets(grad.shape[0], grad.shape[1], batch_stride, channel_stride, grad.device)
    memory = grad.as_strided((grad.numel(),), (1,))
    memory.index_put_((torch.add(cells, at, alpha=position_stride).flatten(),), values.flatten())


class _GlobalMaxMin(torch.autograd.Function):
    """Per-channel global max and min of (B, C, H, W), each with the index it came from."""

    @staticmethod
    def forward(ctx, x):
        flat = x.flatten(2)  # a view for contiguous and channels_last layouts
        high, high_at = _extreme(flat, largest=True)
        low, low_at = _extreme(flat, largest=False)
        ctx.save_for_backward(high_at, low_at)
        ctx.layout = (x.shape, x.dtype, _memory_format(x))
        return high[..., None, None], low[..., None, None]

    @staticmethod
    def backward(ctx, grad_high, grad_low):
        high_at, low_at = ctx.saved_tensors
        shape, dtype, memory_format = ctx.layout
        grad = torch.empty(shape, dtype=dtype, device=high_at.device,
                           memory_format=memory_format).zero_()
        grad_high, grad_low = grad_high.flatten(1).to(dtype), grad_low.flatten(1).to(dtype)
        _put(grad, low_at, grad_low)
        # A constant channel has max and min at one position, which then gets both.  Writing
        # (not adding) each index once stays deterministic on CUDA.
        _put(grad, high_at, grad_high + grad_low * (high_at == low_at))
        return grad


def _memory_format(x: torch.Tensor) -> torch.memory_format:
    channels_last = x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(
        memory_format=torch.channels_last)
    return torch.channels_last if channels_last else torch.contiguous_format


def global_max_min(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(amax, amin)`` over (H, W), each (B, C, 1, 1), from one backward node."""
    return _GlobalMaxMin.apply(x)


class GlobalPool(nn.Module):
    """A pool ``wa * a + wb * b`` of two per-channel statistics; see :meth:`terms`."""

    def terms(self, x: torch.Tensor):
        """``(a, b, wa, wb)`` with ``self(x) == wa * a + wb * b``; ``a``, ``b`` are (B, C, 1, 1)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b, wa, wb = self.terms(x)
        return wa * a + wb * b


def global_avg(x: torch.Tensor) -> torch.Tensor:
    return x.mean((2, 3), keepdim=True)


def global_max(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(2).max(2).values[..., None, None]


def global_min(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(2).min(2).values[..., None, None]


class _SingleStatistic(GlobalPool):
    statistic = None  # a static function (B, C, H, W) -> (B, C, 1, 1), set by each subclass

    def terms(self, x):
        s = self.statistic(x)
        return s, s, 0.5, 0.5

    def forward(self, x):
        return self.statistic(x)


class AvgPool(_SingleStatistic):
    """Global average pooling, the SE/ECA baseline."""
    statistic = staticmethod(global_avg)


class MaxPool(_SingleStatistic):
    """Global max pooling."""
    statistic = staticmethod(global_max)


class MinPool(_SingleStatistic):
    """Global min pooling."""
    statistic = staticmethod(global_min)


class AvgMaxPool(GlobalPool):
    """``0.5 * avg + 0.5 * max``, as timm's SE ``add_maxpool``."""

    def terms(self, x):
        return global_avg(x), global_max(x), 0.5, 0.5


class MixPool(GlobalPool):
    """``alpha * max + beta * min`` with fixed real alpha and beta (negatives allowed)."""

    def __init__(self, alpha: float, beta: float):
        super().__init__()
        self.alpha, self.beta = alpha, beta

    def terms(self, x):
        high, low = global_max_min(x)
        return high, low, self.alpha, self.beta

    def extra_repr(self) -> str:
        return f"alpha={self.alpha:g}, beta={self.beta:g}"


class LearnedPool(GlobalPool):
    """SPEM's self-adaptive weight: ``lam * max + (1 - lam) * min``, ``lam = p0^2 / |p|^2``.

    ``p`` starts at [0.5, 0.5] (lam = 0.5); the training loss adds a multiple of
    :meth:`regularizer`, as the official code does.
    """

    def __init__(self):
        super().__init__()
        self.p = nn.Parameter(torch.tensor([0.5, 0.5]))

    @property
    def lam(self) -> torch.Tensor:
        squared = self.p.square()
        return squared[0] / squared.sum()

    def regularizer(self) -> torch.Tensor:
        return self.p.square().sum()

    def terms(self, x):
        high, low = global_max_min(x)
        lam = self.lam.to(x.dtype)
        return high, low, lam, 1 - lam


POOLS = {"avg": AvgPool, "max": MaxPool, "min": MinPool, "mix": MixPool,
         "learned": LearnedPool, "avgmax": AvgMaxPool}
POOL_NAMES = names.registered("pool", names.POOL_NAMES, POOLS)


def make_pool(name: str, alpha=None, beta=None) -> GlobalPool:
    """Build the pool called ``name``; ``mix`` needs finite ``alpha`` and ``beta``."""
    choose("pool", name, POOL_NAMES)
    if name == "mix":
        if alpha is None or beta is None:
            raise SpeError("pool 'mix' needs both alpha and beta (finite numbers, e.g. 0.5)")
        return MixPool(finite("alpha", alpha), finite("beta", beta))
    if alpha is not None or beta is not None:
        raise SpeError(f"alpha/beta apply only to pool 'mix', not to pool {name!r}")
    return POOLS[name]()
