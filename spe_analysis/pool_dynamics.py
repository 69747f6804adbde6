"""How SPEM's learned pooling weight ``p`` moves during training: its norm and per-step turn.

``lam = p0^2 / |p|^2`` depends only on the direction of ``p``, so the classification
gradient is orthogonal to ``p`` and scales like ``1 / |p|``, while the regulariser and weight
decay shrink ``|p|``.  Such scale-invariant weights settle where each SGD step turns them by
about ``sqrt(2 * lr * decay_eff)`` radians (van Laarhoven 2017; Wan et al. 2021): recording
``|p|`` and the turn per step shows whether lam is learned or noise.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .models import learned_pools

def turn_degrees(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    """Angle in degrees between matching rows of two (blocks, 2) tensors."""
    cross = before[:, 0] * after[:, 1] - before[:, 1] * after[:, 0]
    dot = (before * after).sum(1)
    return torch.rad2deg(torch.atan2(cross.abs(), dot))  # atan2: exact also for tiny turns


class PoolDynamics:
    """Per-block ``p_norm`` (at the end of each epoch) and ``p_turn`` (mean per-step turn).

    Call :meth:`before_step` and :meth:`after_step` around each optimiser step and
    :meth:`epoch` once an epoch ends.  The sums stay on the device: no sync per step.
    """

    def __init__(self, model: nn.Module):
        self.pools = learned_pools(model)
        self._before: torch.Tensor | None = None
        self._turn_sum: torch.Tensor | None = None
        self._steps = 0

    def _p(self) -> torch.Tensor:
        return torch.stack([pool.p.detach().float() for pool in self.pools])

    def before_step(self) -> None:
        if self.pools:
            self._before = self._p().clone()

    def after_step(self) -> None:
        if not self.pools:
            return
        turn = turn_degrees(self._before, self._p())
        self._turn_sum = turn if self._turn_sum is None else self._turn_sum + turn
        self._steps += 1

    def epoch(self) -> dict[str, list[float]]:
        """This epoch's ``p_norm`` and ``p_turn`` per block (empty without learned pools)."""
        if not self.pools:
            return {}
        norms = torch.linalg.vector_norm(self._p(), dim=1).tolist()
        turns = ((self._turn_sum / self._steps).tolist() if self._steps
                 else [math.nan] * len(self.pools))
        self._turn_sum, self._steps = None, 0
        return {"p_norm": norms, "p_turn": turns}
