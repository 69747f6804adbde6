"""The names spe accepts (pools, hosts, models, datasets, devices, executors, tests, figure
kinds ...), in one module that imports nothing heavy.

The command line builds its help and its error messages from these tuples, so ``spe --help``
runs without importing torch, scipy or matplotlib (see ``tests/test_cli_help.py``).  The
modules that implement each name keep their own registry (``pooling.POOLS``, ``plots.KINDS``
...) and check it against the tuple here with :func:`registered`, so a name added in one
place only fails at import, not silently in the help.
"""
from __future__ import annotations

from typing import Iterable

from .errors import SpeError

POOL_NAMES = ("avg", "max", "min", "mix", "learned", "avgmax", "lse", "gem", "meanstd", "dct")
# The pools with one parameter, written NAME:VALUE, and the letter the help shows for it
# (pool_labels.PARAMETERS says what each parameter is).
POOL_PARAMETERS = {"lse": "R", "gem": "P", "meanstd": "L"}
PLUGIN_POOL = "MODULE:FACTORY"  # a user's pool: FACTORY(channels) in an importable MODULE


def pool_form(name: str) -> str:
    """How the help writes a pool: 'lse:R' for one with a parameter, else the name."""
    return f"{name}:{POOL_PARAMETERS[name]}" if name in POOL_PARAMETERS else name


# --also: pools a sweep adds beside the grid (all but the baseline and the grid's mix).
EXTRA_POOLS = (*(pool_form(p) for p in POOL_NAMES if p not in ("avg", "mix")), PLUGIN_POOL)
ATTENTION_NAMES = ("none", "se", "spem", "eca", "cbam")
RESNET_NAMES = ("resnet20", "resnet56", "resnet110", "resnet164")  # the CIFAR ResNets, which fuse
MODEL_NAMES = (*RESNET_NAMES, "airbench")
TIMM = "timm:"  # --model timm:NAME
DATASET_NAMES = ("digits", "cifar10", "cifar100", "mnist", "fashion-mnist", "svhn")
IMAGEFOLDER = "imagefolder:"
DEVICES = ("auto", "cpu", "cuda", "mps")
EXECUTORS = {"local": "processes on this machine", "ray": "Ray tasks",
             "slurm": "one Slurm job per run, through submitit"}

TESTS = ("welch", "paired", "mannwhitney", "permutation")
CI_METHODS = ("hksj-floor", "hksj", "normal")  # --ci of the pooled (meta-analytic) estimate
DEFAULT_CI = "hksj-floor"
DIVERGED = ("count", "exclude")  # --diverged: count them against the cell, or leave them out
CORRECTIONS = ("holm", "bh", "by", "dunnett", "none")
SPENDING = ("obf", "pocock")

# Figure kinds and what each shows, for the help of spe plot and spe figures.
PLOT_KINDS = {  # one sweep
    "heatmap": "delta vs avg over the alpha x beta grid, stars, ≈ equivalent, alpha = beta = 0 marked",
    "strip": "every run per cell, 95% CI of delta, coloured by verdict",
    "curves": "test accuracy and train loss per epoch, mean and 95% band",
    "lambda": "the learned pool's per-block mixing weight over epochs",
    "dynamics": "the learned pool's |p| and per-step turn of p over epochs",
    "continuum": "delta vs avg along the lse temperature, avg to max, other statistics beside",
}
META_PLOT_KINDS = {  # several settings
    "forest": "per mix cell, each setting's delta and 95% CI, the pooled diamond",
    "verdicts": "settings x cells coloured by delta, a mark per verdict, pooled row last",
    "moderator": "per mix cell, each setting's delta against a numeric moderator and the "
                 "meta-regression line (spe meta --moderator) with its 95% band",
}
ALL_KINDS = "all"
FIGURE_FORMATS = ("pdf", "png", "svg")
WIDTHS = {"single": 3.3, "double": 6.9}  # inches, two-column paper layout
EXPORT_FORMATS = ("csv", "jsonl", "parquet")

GRID_HELP = "start:stop:step (stop included when on the grid, e.g. 0:1:0.25) or a comma list (0,0.5,1)"
MIXES_HELP = "alpha:beta pairs, a comma list (e.g. 0:0.5,1:1)"
FUSE_HELP = "K (runs per fused model), auto or off"

# Defaults the help states.
# What --fuse auto trains together per device.  CPU: 1 (unfused): bench_fused.py --device cpu
# (bf16, 1 thread) gave grouped kernels 0.95-1.06x the img/s of unfused at K = 2 and 4 over
# three invocations (no gain beyond the noise of the shared machine) and split kernels
# 0.78-0.87x.  CUDA: a guess, not measured (no GPU was lent): a ResNet-20 step is
# launch-bound (9.4 ms on an H200), so K runs per launch should pay.
AUTO_FUSE = {"cpu": 1, "cuda": 8}
DEFAULT_STALE_AFTER = 600.0  # seconds without a heartbeat before another host's lock is free


def registered(kind: str, names: Iterable[str], registry: Iterable[str]) -> tuple[str, ...]:
    """``names`` as a tuple, after checking that ``registry`` (the implementing module's table)
    holds exactly these names in this order; a mismatch is a programming error."""
    names, found = tuple(names), tuple(registry)
    if names != found:
        raise RuntimeError(f"the {kind} names in spe_analysis/names.py {names} differ from the "
                           f"{kind} registry {found}; add a new {kind} to both")
    return names


def check_dataset_name(name: str) -> str:
    if name in DATASET_NAMES or (name.startswith(IMAGEFOLDER) and len(name) > len(IMAGEFOLDER)):
        return name
    raise SpeError(f"unknown dataset {name!r}; accepted: {', '.join(DATASET_NAMES)}, imagefolder:PATH")


def is_timm(model) -> bool:
    return isinstance(model, str) and model.startswith(TIMM)
