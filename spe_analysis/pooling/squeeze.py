"""The other squeeze statistics of the literature, each a single statistic: ``lse``
(temperature r, from avg at r -> 0 to max at r -> infinity), ``gem`` (exponent p),
``meanstd`` (mean + lambda * std, SRM's style pooling with a fixed weight) and ``dct``
(FcaNet's multi-spectral pooling)."""
from __future__ import annotations

import functools
import math

import torch

from .pools import _SingleStatistic


class _FloatStatistic(_SingleStatistic):
    """A statistic that exponentiates or squares its input: computed in float32 or wider (bf16
    autocast would lose most of its digits in the exponentials and powers), returned in the
    input's dtype."""

    def forward(self, x):
        return self.statistic(x.to(torch.promote_types(x.dtype, torch.float32))).to(x.dtype)

    def terms(self, x):
        s = self(x)
        return s, s, 0.5, 0.5


class _LogMeanExp(torch.autograd.Function):
    """``(1/r) log mean exp(r x)`` over the last axis of (B, C, L), with its gradient
    ``softmax(r x) = exp(r (x - value)) / L`` written out: one exp instead of the backward of
    every step of the forward (lse 12x avg through autograd, bench_pooling)."""

    @staticmethod
    def forward(ctx, flat, r):
        # Around the channel mean c and the largest s = r (x - c): nothing overflows at large
        # r, and at small r, where logsumexp(r x) - log(L) would cancel to float32 noise divided
        # by r, expm1 and log1p keep their digits.
        centre = flat.mean(2, keepdim=True)
        scaled = r * (flat - centre)
        top = scaled.amax(2, keepdim=True)
        value = centre + (top + torch.log1p(torch.expm1(scaled - top).mean(2, keepdim=True))) / r
        ctx.save_for_backward(flat, value)
        ctx.r = r
        return value

    @staticmethod
    def backward(ctx, grad):
        flat, value = ctx.saved_tensors
        # r (x - value) <= log(L): the exponential cannot overflow.
        return grad * torch.exp(ctx.r * (flat - value)) / flat.shape[2], None


class LSEPool(_FloatStatistic):
    """Log-sum-exp pooling ``(1/r) log mean exp(r x)``: avg as r -> 0, max as r -> infinity,
    computed stably (:class:`_LogMeanExp`)."""

    def __init__(self, r: float):
        super().__init__()
        self.r = r

    def statistic(self, x):
        return _LogMeanExp.apply(x.flatten(2), self.r)[..., None]

    def extra_repr(self) -> str:
        return f"r={self.r:g}"


GEM_EPS = 1e-6  # GeM's clamp (Radenovic et al.)


class GeMPool(_FloatStatistic):
    """Generalised mean ``(mean clamp(x, eps)^p)^(1/p)``, as published: values below eps
    count as eps.  On an SE input (a BatchNorm output, about half of it negative) gem is
    therefore a power mean of the positive part; the negative values carry no gradient."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def statistic(self, x):
        return x.clamp(min=GEM_EPS).pow(self.p).mean((2, 3), keepdim=True).pow(1.0 / self.p)

    def extra_repr(self) -> str:
        return f"p={self.p:g}"


STD_EPS = 1e-5  # inside the square root, as SRM: a constant channel keeps a finite gradient


class MeanStdPool(_FloatStatistic):
    """``mean + lambda * std`` over (H, W), std the population one, ``sqrt(var + 1e-5)``."""

    def __init__(self, lam: float):
        super().__init__()
        self.lam = lam

    def statistic(self, x):
        var, mean = torch.var_mean(x, (2, 3), correction=0, keepdim=True)
        return mean + self.lam * (var + STD_EPS).sqrt()

    def extra_repr(self) -> str:
        return f"lambda={self.lam:g}"


# FcaNet's 'top16' selection (Qin et al. 2021): 16 frequencies (u, v) of a 7x7 DCT grid.
DCT_TOP16_U = (0, 0, 6, 0, 0, 1, 1, 4, 5, 1, 3, 0, 0, 0, 3, 2)
DCT_TOP16_V = (0, 1, 0, 5, 2, 0, 2, 0, 0, 6, 0, 4, 6, 3, 5, 2)
DCT_GRID = 7


def dct_frequency(u: int, size: int) -> int:
    """Frequency ``u`` of the 7-point grid on a ``size``-point map.  FcaNet scales by
    ``size // 7`` (its maps are 7, 14, 28, 56); below 7 that would put every frequency at 0,
    so smaller maps scale in proportion, ``u * size // 7``, which stays below ``size``."""
    return u * (size // DCT_GRID) if size >= DCT_GRID else u * size // DCT_GRID


def dct_basis(u: int, size: int) -> torch.Tensor:
    """Orthonormal DCT-II basis vector ``u`` of length ``size`` (float64)."""
    t = torch.arange(size, dtype=torch.float64)
    scale = math.sqrt((1.0 if u == 0 else 2.0) / size)
    return scale * torch.cos(math.pi * u * (t + 0.5) / size)


@functools.lru_cache(maxsize=64)
def dct_filters(channels: int, height: int, width: int, device: torch.device,
                dtype: torch.dtype) -> torch.Tensor:
    """(C, H, W) filters: channel c gets frequency ``c * 16 // C`` of the top-16 list, i.e.
    16 equal groups of channels when C is a multiple of 16, each group its own 2-D basis."""
    groups = len(DCT_TOP16_U)
    bases = torch.stack([torch.outer(dct_basis(dct_frequency(u, height), height),
                                     dct_basis(dct_frequency(v, width), width))
                         for u, v in zip(DCT_TOP16_U, DCT_TOP16_V)])
    return bases[torch.arange(channels) * groups // channels].to(device, dtype)


class DCTPool(_FloatStatistic):
    """FcaNet's multi-spectral pooling: each channel's 2-D DCT component at its group's
    frequency.  The (0, 0) component is ``sqrt(H W) * avg``."""

    def statistic(self, x):
        weight = dct_filters(*x.shape[1:], x.device, x.dtype)
        # A product and a sum, not einsum: autocast would run einsum in bf16.
        return (x * weight).sum((2, 3), keepdim=True)
