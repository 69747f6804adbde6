"""Which runs can train together as one fused model (:mod:`spe_analysis.models.fused`), and in
what order they sit side by side.  No torch here: the sweep groups its runs with it."""
from __future__ import annotations

import dataclasses

from ..errors import SpeError
from ..names import RESNET_NAMES
from .config import RunConfig

GROUP_VARIES = ("pool", "alpha", "beta", "seed")  # what the runs of one fused model may differ in
# The pools the fused model pools, in the order their runs sit side by side (same pool together).
FUSABLE_POOLS = ("avg", "max", "min", "mix", "learned", "avgmax")


def fusion_key(config: RunConfig) -> tuple | None:
    """Runs with equal keys can train as one fused model; None: this run trains alone."""
    if config.model not in RESNET_NAMES:  # timm's and airbench's layers are not fused
        return None
    if config.pool not in FUSABLE_POOLS:
        return None
    shared = dataclasses.asdict(config)
    for name in GROUP_VARIES:
        shared.pop(name)
    return tuple(sorted((k, repr(v)) for k, v in shared.items()))


def group_order(config: RunConfig) -> tuple:
    """Sort key of a group's runs: same-pool runs next to each other, as the fused pool needs."""
    return FUSABLE_POOLS.index(config.pool), config.alpha or 0.0, config.beta or 0.0, config.seed


def check_group(configs: list[RunConfig]) -> None:
    """SpeError unless ``configs`` can train as one model (one run always can)."""
    keys = {fusion_key(c) for c in configs}
    if len(configs) > 1 and (len(keys) != 1 or None in keys):
        raise SpeError("only runs that differ in nothing but pool, alpha, beta and seed can be fused")
