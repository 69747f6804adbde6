"""The pools of the SPEM question: avg, max, min, avgmax, the fixed mix and SPEM's learned
weight.

Every pool is the weighted sum of two per-channel statistics, ``wa * a + wb * b``, and says
so through :meth:`GlobalPool.terms`; a single-statistic pool reports ``(s, s, 1/2, 1/2)``.
Attention hosts that look inside the pool (SPEM reweights max and min separately) use
``terms``; every other host just calls the pool.
"""
from __future__ import annotations

import torch
from torch import nn

from .extremes import global_max_min


class GlobalPool(nn.Module):
    """A pool ``wa * a + wb * b`` of two per-channel statistics; see :meth:`terms`.

    What a pool adds to training comes through three methods, so the training loop treats
    every pool alike: a loss term (:meth:`regularizer`), values the run's history records at
    each epoch's end (:meth:`epoch_record`), and a weight of its own whose norm and per-step
    turn the history follows (:meth:`trained_weight`).  A fixed pool adds nothing.
    """

    def regularizer(self) -> torch.Tensor | None:
        """A term the training loss adds, times the run's ``pool_reg``; None: none."""
        return None

    def epoch_record(self) -> dict[str, float]:
        """Values to record, per pool, at the end of each epoch."""
        return {}

    def trained_weight(self) -> torch.Tensor | None:
        """A 2-vector whose direction the pool uses (SPEM's ``p``): training records its norm
        and its turn per step; None: none."""
        return None

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
        p = self.p
        with torch.no_grad():
            # lam depends on p's direction only, but p0^2 / |p|^2 in float32 breaks once |p|
            # falls below about 1e-20 (the regulariser shrinks p to 0 wherever lam's own gradient
            # vanishes): its backward, (p0^2 / |p|^2) / |p|^2, overflows and 0 * inf gives NaN,
            # then the squares underflow to 0 / 0.  Only there is p first divided by max |p|;
            # everywhere else by exactly 1, which keeps every value and gradient bit for bit.
            squared = p.square()
            fine = torch.isfinite(squared[0] / squared.sum() / squared.sum())
            unit = torch.where(fine, torch.ones_like(squared[0]), p.abs().max())
        squared = (p / unit).square()
        return squared[0] / squared.sum()

    def regularizer(self) -> torch.Tensor:
        return self.p.square().sum()

    def epoch_record(self) -> dict[str, float]:
        return {"lam": float(self.lam.detach())}

    def trained_weight(self) -> torch.Tensor:
        return self.p

    def terms(self, x):
        high, low = global_max_min(x)
        lam = self.lam.to(x.dtype)
        return high, low, lam, 1 - lam
