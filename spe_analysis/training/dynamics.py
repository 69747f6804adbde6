"""What a run's pools add to its training, through the pool's training interface
(:class:`~spe_analysis.pooling.GlobalPool`): the loss term, the values each epoch records, and
how a trained pool weight such as SPEM's ``p`` moves: its norm and per-step turn.

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

from ..pooling import GlobalPool


def turn_degrees(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    """Angle in degrees between matching rows of two (blocks, 2) tensors."""
    cross = before[:, 0] * after[:, 1] - before[:, 1] * after[:, 0]
    dot = (before * after).sum(1)
    return torch.rad2deg(torch.atan2(cross.abs(), dot))  # atan2: exact also for tiny turns


class RunPools:
    """One run's pools, in depth order, as its training loop sees them.

    The loss adds :meth:`penalty`; call :meth:`before_step` and :meth:`after_step` around
    each optimiser step and :meth:`epoch` once an epoch ends.  The turn sums stay on the
    device: no sync per step.
    """

    def __init__(self, model: nn.Module):
        pools = [m for m in model.modules() if isinstance(m, GlobalPool)]
        self.recording = [p for p in pools if p.epoch_record()]
        self.regularized = [p for p in pools if p.regularizer() is not None]
        self.weighted = [p for p in pools if p.trained_weight() is not None]
        self._before: torch.Tensor | None = None
        self._turn_sum: torch.Tensor | None = None
        self._steps = 0

    def penalty(self) -> torch.Tensor | None:
        """The sum of the pools' regularisers; None when no pool has one."""
        if not self.regularized:
            return None
        return torch.stack([pool.regularizer() for pool in self.regularized]).sum()

    def _weights(self) -> torch.Tensor:
        return torch.stack([pool.trained_weight().detach().float() for pool in self.weighted])

    def before_step(self) -> None:
        if self.weighted:
            self._before = self._weights().clone()

    def after_step(self) -> None:
        if not self.weighted:
            return
        turn = turn_degrees(self._before, self._weights())
        self._turn_sum = turn if self._turn_sum is None else self._turn_sum + turn
        self._steps += 1

    def epoch(self) -> dict[str, list[float]]:
        """This epoch's recorded values per pool (``lam``), then each trained weight's norm at
        the epoch's end (``p_norm``) and mean turn per step (``p_turn``); empty for fixed pools."""
        row: dict[str, list[float]] = {}
        for pool in self.recording:
            for key, value in pool.epoch_record().items():
                row.setdefault(key, []).append(value)
        if self.weighted:
            row["p_norm"] = torch.linalg.vector_norm(self._weights(), dim=1).tolist()
            row["p_turn"] = ((self._turn_sum / self._steps).tolist() if self._steps
                             else [math.nan] * len(self.weighted))
            self._turn_sum, self._steps = None, 0
        return row
