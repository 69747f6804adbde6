"""airbench's lookahead: the weights are pulled to an exponential moving average of themselves.

Every EVERY steps the average moves toward the current weights with decay
``DECAY * progress**3`` (so early on it simply follows them) and the weights are set to the
average; the final weights are the average's.  BatchNorm's running statistics are averaged too.
"""
from __future__ import annotations

import torch
from torch import nn

EVERY = 5
DECAY = 0.95 ** EVERY


class Lookahead:
    def __init__(self, model: nn.Module, total_steps: int):
        # state_dict() tensors share storage with the live weights and buffers
        self.live = [t for t in model.state_dict().values() if t.is_floating_point()]
        self.average = [t.detach().clone() for t in self.live]
        self.total_steps = total_steps

    @torch.no_grad()
    def after_step(self, step: int) -> None:
        """Call after optimiser step ``step`` (from 1)."""
        if step % EVERY == 0:
            self._pull(DECAY * (step / self.total_steps) ** 3)
        if step == self.total_steps:
            self._pull(1.0)  # the final weights are the average's

    def _pull(self, decay: float) -> None:
        for average, live in zip(self.average, self.live):
            average.lerp_(live, 1 - decay)
            live.copy_(average)
