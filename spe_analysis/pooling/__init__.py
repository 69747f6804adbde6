"""Global pooling strategies: (B, C, H, W) -> (B, C, 1, 1), built by name with :func:`make_pool`.

``pools`` holds the pools of the SPEM question (avg, max, min, the fixed mix, the learned
weight, avgmax), ``squeeze`` the other squeeze statistics of the literature (lse, gem,
meanstd, dct), ``extremes`` the one-pass max/min that mix and learned share, and ``plugins``
users' own pools (``MODULE:FACTORY``, or a name under the ``spe.pools`` entry points).  A
parametric pool is named with its parameter, ``lse:4``, everywhere: on the command line, in
``--also``, in ``make_pool`` and as the cell of a sweep (:mod:`spe_analysis.pool_labels`).
"""
from __future__ import annotations

from .. import names
from ..errors import SpeError, finite
from ..pool_labels import POOL_ACCEPTED, builtin_pool
from . import plugins
from .extremes import global_max_min
from .plugins import PluginPool
from .pools import AvgMaxPool, AvgPool, GlobalPool, LearnedPool, MaxPool, MinPool, MixPool, global_avg, global_max, global_min
from .squeeze import DCTPool, GeMPool, LSEPool, MeanStdPool

__all__ = ["AvgMaxPool", "AvgPool", "DCTPool", "GeMPool", "GlobalPool", "LSEPool", "LearnedPool", "MaxPool",
           "MeanStdPool", "MinPool", "MixPool", "POOLS", "POOL_NAMES", "PluginPool", "global_avg", "global_max",
           "global_max_min", "global_min", "make_pool"]

POOLS = {"avg": AvgPool, "max": MaxPool, "min": MinPool, "mix": MixPool,
         "learned": LearnedPool, "avgmax": AvgMaxPool, "lse": LSEPool, "gem": GeMPool,
         "meanstd": MeanStdPool, "dct": DCTPool}
POOL_NAMES = names.registered("pool", names.POOL_NAMES, POOLS)


def make_pool(name: str, alpha=None, beta=None, channels: int | None = None) -> GlobalPool:
    """Build the pool called ``name`` (a label: 'avg', 'lse:4', 'pkg.mod:make'); ``mix``
    needs finite ``alpha`` and ``beta``; a user's pool needs the ``channels`` of its host."""
    builtin = builtin_pool(name)
    if (alpha is not None or beta is not None) and (builtin is None or name != "mix"):
        raise SpeError(f"alpha/beta apply only to pool 'mix', not to pool {name!r}")
    if builtin is None:  # checked and versioned when the run was configured (training.config)
        path = plugins.path_of(name, POOL_ACCEPTED)
        if channels is None:
            raise SpeError(f"pool {name!r} is built per host: give its number of channels")
        return PluginPool(plugins.build(path, channels), name)
    pool, param = builtin
    if pool == "mix":
        if alpha is None or beta is None:
            raise SpeError("pool 'mix' needs both alpha and beta (finite numbers, e.g. 0.5)")
        return MixPool(finite("alpha", alpha), finite("beta", beta))
    return POOLS[pool]() if param is None else POOLS[pool](param)
