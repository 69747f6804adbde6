"""Training: a run's configuration and the recipes (``config``), the loop that trains a group
of runs as one model, a single run being a group of one (``loop``), a run start to finish with
its record (``run``), and what they use: the schedules, augmentation, lookahead, precision,
the pools' part in training (``dynamics``), which runs can be fused (``groups``) and the
record of an outcome (``outcome``).

The configuration, groups, schedules and records need no torch, and sweep planning reads
them without importing it; so the names that need torch are imported on first use:
``from spe_analysis.training import train_run`` works as ever.
"""
from __future__ import annotations

import importlib

from .config import PRESETS, RunConfig, resolve_config

__all__ = ["PRESETS", "RunConfig", "resolve_config", "train_group", "train_run"]
_WITH_TORCH = {"train_run": "run", "train_group": "run"}


def __getattr__(name: str):
    if name in _WITH_TORCH:
        return getattr(importlib.import_module(f".{_WITH_TORCH[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
