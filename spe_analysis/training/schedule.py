"""The learning-rate schedules of the recipes: the factor of the base rate at each step."""
from __future__ import annotations

from .config import RunConfig


def lr_factor(config: RunConfig, step: int, steps_per_epoch: int) -> float:
    """Multiplier of the base learning rate at a given optimiser step."""
    epoch = step / steps_per_epoch
    if config.schedule == "multistep":
        return config.lr_gamma ** sum(epoch >= m for m in config.milestones)
    total = config.epochs * steps_per_epoch
    if config.schedule == "triangle":
        peak = config.lr_peak * total
        if step < peak:
            return config.lr_start + (1 - config.lr_start) * step / peak
        return 1 + (config.lr_end - 1) * (step - peak) / max(total - peak, 1)
    # "onecycle": linear warm-up, then linear decay to zero at the end of training.
    warm = config.warmup_epochs * steps_per_epoch
    if step < warm:
        return (step + 1) / warm
    return max(0.0, (total - step) / max(total - warm, 1))
