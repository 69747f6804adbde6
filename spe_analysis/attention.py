"""Channel-attention hosts with a pluggable global pool: (B, C, H, W) -> (B, C, H, W).

Every host is built the same way, ``HOSTS[name](channels, pool)`` (timm's create_attn
style), and multiplies its input by a per-channel gate in (0, 1):

- ``none``: identity.
- ``se`` (Hu et al.): pool -> 1x1 conv C -> max(C // 16, 4) -> ReLU -> 1x1 conv -> sigmoid.
- ``eca`` (Wang et al.): pool -> 1-D conv across channels, odd kernel
  ``|(log2 C + 1) / 2|`` rounded up to odd, at least 3 -> sigmoid.
- ``cbam``: CBAM's channel branch, ``sigmoid(mlp(pool(x)) + mlp(max(x)))`` with the SE
  MLP shared by both.  The chosen pool replaces CBAM's average branch, the max branch
  stays, so ``pool="avg"`` is CBAM as published.  The spatial branch is left out: it
  pools across channels, not over space, and is not what this study varies.
- ``spem``: the official SPEM module (REFERENCE.md).  Per channel ``R(s) = w2 * s + b2``
  (reweight), and for the pool's two terms ``(a, b, wa, wb)`` (see
  :meth:`spe_analysis.pooling.GlobalPool.terms`) the gate is
  ``sigmoid(R(a) + R(b)) * sigmoid(w1 * (wa * R(a) + wb * R(b)) + b1)``.
  With ``learned`` that is the official code exactly (``a, b = max, min``,
  ``wa, wb = lam, 1 - lam``); with ``mix`` lam and 1 - lam become alpha and beta, as in
  the paper's sweep; ``avgmax`` hands it avg and max with weights 1/2; a single-statistic
  pool (``avg``, ``max``, ``min``) hands it ``(s, s, 1/2, 1/2)``, so the gate becomes
  ``sigmoid(2 R(s)) * sigmoid(w1 * R(s) + b1)``.  ``w = 0`` and ``b = -1`` at init, so
  every pool starts from the same gate ``sigmoid(-2) * sigmoid(-1)`` (about 0.032).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from . import names
from .errors import SpeError, choose, positive_int
from .pooling import GlobalPool, global_max, make_pool

REDUCTION = 16  # SE / CBAM hidden width C // 16 ...
MIN_HIDDEN = 4  # ... but never below 4 channels


def _gate(x: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
    # The gate can come out in float32 under autocast; scale x in its own dtype.
    return x * gate.to(x.dtype)


def _mlp(channels: int) -> nn.Sequential:
    hidden = max(channels // REDUCTION, MIN_HIDDEN)
    return nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True),
                         nn.Conv2d(hidden, channels, 1))


class SE(nn.Module):
    def __init__(self, channels: int, pool: GlobalPool):
        super().__init__()
        self.pool, self.fc = pool, _mlp(channels)

    def forward(self, x):
        return _gate(x, torch.sigmoid(self.fc(self.pool(x))))


def eca_kernel_size(channels: int, gamma: float = 2.0, b: float = 1.0) -> int:
    """ECA's adaptive kernel ``|(log2 C + b) / gamma|`` made odd, at least 3."""
    size = int(abs((math.log2(channels) + b) / gamma))
    return max(3, size if size % 2 else size + 1)


class ECA(nn.Module):
    def __init__(self, channels: int, pool: GlobalPool):
        super().__init__()
        size = eca_kernel_size(channels)
        self.pool = pool
        self.conv = nn.Conv1d(1, 1, size, padding=size // 2, bias=False)

    def forward(self, x):
        y = self.pool(x).flatten(1).unsqueeze(1)  # (B, 1, C): convolve across channels
        return _gate(x, torch.sigmoid(self.conv(y)).view(x.shape[0], -1, 1, 1))


class CBAMChannel(nn.Module):
    def __init__(self, channels: int, pool: GlobalPool):
        super().__init__()
        self.pool, self.mlp = pool, _mlp(channels)

    def forward(self, x):
        return _gate(x, torch.sigmoid(self.mlp(self.pool(x)) + self.mlp(global_max(x))))


class SPEM(nn.Module):
    def __init__(self, channels: int, pool: GlobalPool):
        super().__init__()
        self.pool = pool
        shape = (1, channels, 1, 1)
        self.w1 = nn.Parameter(torch.zeros(shape))
        self.b1 = nn.Parameter(torch.full(shape, -1.0))
        self.w2 = nn.Parameter(torch.zeros(shape))
        self.b2 = nn.Parameter(torch.full(shape, -1.0))

    def forward(self, x):
        a, b, wa, wb = self.pool.terms(x)
        a, b = self.w2 * a + self.b2, self.w2 * b + self.b2
        mix = self.w1 * (wa * a + wb * b) + self.b1
        return _gate(x, torch.sigmoid(a + b) * torch.sigmoid(mix))


HOSTS = {"none": lambda channels, pool: nn.Identity(), "se": SE, "spem": SPEM, "eca": ECA,
         "cbam": CBAMChannel}
ATTENTION_NAMES = names.registered("attention", names.ATTENTION_NAMES, HOSTS)


def make_attention(name: str, channels: int, pool="avg", alpha=None, beta=None) -> nn.Module:
    """Build host ``name`` for ``channels`` channels around ``pool``.

    ``pool`` is a module from :func:`~spe_analysis.pooling.make_pool` or a pool name;
    with a name, ``alpha`` and ``beta`` go to ``make_pool`` (they are needed for ``mix``).
    """
    choose("attention", name, ATTENTION_NAMES)
    positive_int("attention channels", channels)
    if not isinstance(pool, GlobalPool):
        pool = make_pool(pool, alpha=alpha, beta=beta, channels=channels)
    elif alpha is not None or beta is not None:
        raise SpeError("alpha/beta go with a pool name; this pool module already has its own")
    return HOSTS[name](channels, pool)
