"""The resolved configuration of one training run, and the training recipes (presets).

Every hyperparameter lives in :class:`RunConfig`; a preset fills them, explicit options
override them, and the run id is the hash of the result.  How and where a run executes
(device, threads, data directory) is not part of its identity.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..errors import SpeError, choose, finite, positive_int
from ..names import ATTENTION_NAMES, MODEL_NAMES, check_dataset_name, is_timm
from ..pool_labels import POOL_ACCEPTED, builtin_pool, pool_label
from ..records import run_id

# Recipes, the whole of each visible in one place.  ``short`` is tuned for accuracy per
# CPU-minute on CIFAR-style data (see README, "Performance"); ``paper`` is the official
# bearpaw/SPEM recipe of REFERENCE.md.
PRESETS: dict[str, dict[str, Any]] = {
    "paper": dict(epochs=164, batch_size=128, test_batch_size=100, lr=0.1, momentum=0.9,
                  nesterov=False, weight_decay=1e-4, label_smoothing=0.0,
                  schedule="multistep", milestones=[81, 122], lr_gamma=0.1,
                  warmup_epochs=0.0),
    "short": dict(epochs=10, batch_size=128, test_batch_size=1000, lr=0.2, momentum=0.9,
                  nesterov=True, weight_decay=5e-4, label_smoothing=0.1,
                  schedule="onecycle", milestones=[], lr_gamma=0.1, warmup_epochs=1.0),
    # airbench94 (Keller Jordan, 2024) for ``--model airbench``.  Its lr 11.5 and weight decay
    # 0.0153 per 1024 summed examples are lr 1.5 and decay 0.0153 / 11.5 on the mean loss.
    "airbench": dict(epochs=10, batch_size=1024, test_batch_size=2000, lr=1.5, momentum=0.85,
                     nesterov=True, weight_decay=0.0153 / 11.5, label_smoothing=0.2,
                     schedule="triangle", milestones=[], lr_gamma=0.1, warmup_epochs=0.0,
                     lr_start=0.2, lr_peak=0.23, lr_end=0.07, bias_lr_scale=64.0,
                     lookahead=True, whiten_bias_epochs=3, crop_padding=2, pad_mode="reflect",
                     flip_mode="alternate", tta=2),
}
# Per-dataset defaults applied on top of the default preset: (preset, epochs).
DATASET_DEFAULTS: dict[str, tuple[str, int]] = {"digits": ("short", 10)}
# Models that come with their own recipe train by it unless --preset says otherwise.
MODEL_PRESETS: dict[str, str] = {"airbench": "airbench"}
# Augmentation by dataset family: (crop padding in pixels, horizontal flip).
AUGMENT: dict[str, tuple[int, bool]] = {
    "digits": (1, False), "mnist": (2, False), "fashion-mnist": (2, True),
    "svhn": (4, False),
}
DEFAULT_AUGMENT = (4, True)  # CIFAR-style natural images, imagefolder included
SCHEDULES = ("multistep", "onecycle", "triangle")
PAD_MODES = ("zeros", "reflect")  # what a random crop's padding shows
FLIP_MODES = ("random", "alternate")  # alternate: each image flipped in every other epoch
TTA_LEVELS = (0, 1, 2)  # 1: average with the mirror image; 2: and with 1-pixel shifts of both
# Arithmetic of the forward and backward passes. auto: bf16 autocast on CUDA and on CPUs with
# native bf16 dot products (AVX512_BF16 or AMX: 1.44x the fp32 step there, REFERENCE.md), fp32
# elsewhere (training.precision).
PRECISIONS = ("auto", "fp32", "bf16")

# Fields added to RunConfig after runs had been recorded.  Each defaults to None, meaning
# "as before this field existed", and is left out of the identity while None.
LATER_FIELDS: frozenset[str] = frozenset({
    "lr_start", "lr_peak", "lr_end", "bias_lr_scale", "lookahead", "whiten_bias_epochs",  # airbench
    "pad_mode", "flip_mode", "tta",
    "pool_param", "pool_import", "pool_version",  # the squeeze statistics and users' pools
})


@dataclass(frozen=True)
class RunConfig:
    dataset: str = "digits"
    model: str = "resnet20"
    attention: str = "se"
    pool: str = "avg"
    alpha: float | None = None
    beta: float | None = None
    seed: int = 0
    preset: str = "short"
    epochs: int = 10
    train_subset: int | None = None
    val_split: float | None = None
    batch_size: int = 128
    test_batch_size: int = 1000
    lr: float = 0.2
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    schedule: str = "onecycle"
    milestones: list[int] = field(default_factory=list)
    lr_gamma: float = 0.1
    warmup_epochs: float = 1.0
    pool_reg: float = 0.1  # weight of the learned pool's regulariser sum(p^2), as in SPEM
    crop_padding: int = 4
    flip: bool = True
    precision: str = "auto"
    # triangle schedule: the lr factor rises linearly from lr_start to 1 at fraction lr_peak
    # of training, then falls linearly to lr_end
    lr_start: float | None = None
    lr_peak: float | None = None
    lr_end: float | None = None
    bias_lr_scale: float | None = None  # BatchNorm shifts: lr times this, weight decay over it
    lookahead: bool | None = None  # every 5 steps pull the weights to their EMA (airbench's)
    whiten_bias_epochs: int | None = None  # epochs the whitening layer's bias trains
    pad_mode: str | None = None  # None: zeros
    flip_mode: str | None = None  # None: random
    tta: int | None = None  # test-time augmentation of the final evaluation; None: 0
    # The pool's parameter (lse's r, gem's p, meanstd's lambda); a user's pool's factory
    # (MODULE:FACTORY) and the version of its code (spe_analysis.pooling.plugins).
    pool_param: float | None = None
    pool_import: str | None = None
    pool_version: str | None = None

    @property
    def run_id(self) -> str:
        return run_id(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        """The run's identity and its record's ``config``: every field, except a field of
        LATER_FIELDS that is unset, so that runs recorded before it existed keep their ids."""
        return {k: v for k, v in dataclasses.asdict(self).items()
                if not (k in LATER_FIELDS and v is None)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def _check_model(name: str) -> None:
    if is_timm(name):  # a timm model is checked by building its attention slot: torch and timm
        from ..models import check_model_name

        check_model_name(name)
    else:
        choose("model", name, MODEL_NAMES)


def resolve_pool(name: str, param=None) -> dict:
    """The config fields of a pool given as a label ('lse:4', 'dct', 'pkg.mod:make', an entry
    point name) or as a name and its parameter: ``pool``, ``pool_param`` (None when it has
    none), ``pool_import`` and ``pool_version`` (a user's pool: its factory and version)."""
    builtin = builtin_pool(name, param)
    if builtin is not None:
        return {"pool": builtin[0], "pool_param": builtin[1], "pool_import": None, "pool_version": None}
    from ..pooling import plugins  # a user's pool is checked by running it: torch

    path = plugins.path_of(name, POOL_ACCEPTED)
    plugins.check(path)
    return {"pool": name, "pool_param": None, "pool_import": path, "pool_version": plugins.version(path)}


def config_pool(config: RunConfig) -> str:
    """The pool a run config builds, as make_pool takes it: the label, or the recorded
    factory of a user's pool (what a registered name stood for when the run was configured)."""
    return config.pool_import or pool_label(config.pool, config.pool_param)


def _integer(name: str, value: Any) -> int:
    """A whole number given as int, integral float or digit string, else a one-line SpeError."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SpeError(f"{name} must be a whole number, got {value!r}") from None
    if not number.is_integer():
        raise SpeError(f"{name} must be a whole number, got {value!r}")
    return int(number)


def check_seed(value: Any) -> int:
    """A run's seed, for spe train as for every seed of spe sweep: a whole number, at least 0."""
    seed = _integer("seed", value)
    if seed < 0:
        raise SpeError(f"seed must be a whole number of at least 0, got {value!r}")
    return seed


def constant_mix(alpha: float | None, beta: float | None) -> bool:
    """alpha = beta = 0: the mix pools every channel to the constant 0, a cell a sweep leaves
    out (and spe train refuses) unless asked for with --include-zero."""
    return alpha == 0 and beta == 0


def dataset_family(dataset: str) -> str:
    return "imagefolder" if dataset.startswith("imagefolder:") else dataset


def resolve_config(dataset: str = "digits", preset: str | None = None, **options: Any) -> RunConfig:
    """Fill a RunConfig from a preset, the dataset's defaults and explicit options.

    Options that are None are left to the preset.  Raises SpeError on any bad value.
    """
    check_dataset_name(dataset)
    family = dataset_family(dataset)
    default_preset, default_epochs = DATASET_DEFAULTS.get(family, ("short", None))
    if options.get("model") in MODEL_PRESETS:
        default_preset, default_epochs = MODEL_PRESETS[options["model"]], None
    preset = choose("preset", preset or default_preset, PRESETS)
    values: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(RunConfig)
                              if f.default is not dataclasses.MISSING}
    values["crop_padding"], values["flip"] = AUGMENT.get(family, DEFAULT_AUGMENT)
    values.update(PRESETS[preset])
    if preset == default_preset and default_epochs is not None:
        values["epochs"] = default_epochs
    values.update({k: v for k, v in options.items() if v is not None})
    values.update(dataset=dataset, preset=preset)

    _check_model(values.get("model", "resnet20"))
    choose("attention", values.get("attention", "se"), ATTENTION_NAMES)
    values.update(resolve_pool(values.get("pool", "avg"), values.get("pool_param")))
    pool = values["pool"]
    choose("schedule", values["schedule"], SCHEDULES)
    choose("precision", values["precision"], PRECISIONS)
    if values["schedule"] == "triangle" and None in (values.get("lr_start"), values.get("lr_peak"), values.get("lr_end")):
        raise SpeError("schedule 'triangle' needs lr_start, lr_peak and lr_end (use --preset airbench)")
    for name, accepted in (("pad_mode", PAD_MODES), ("flip_mode", FLIP_MODES), ("tta", TTA_LEVELS)):
        if values.get(name) is not None:
            choose(name.replace("_", "-"), values[name], accepted)
    if pool == "mix":
        if values.get("alpha") is None or values.get("beta") is None:
            raise SpeError("--pool mix needs both --alpha and --beta (finite numbers, e.g. 0.5)")
        values["alpha"] = finite("alpha", values["alpha"])
        values["beta"] = finite("beta", values["beta"])
    elif values.get("alpha") is not None or values.get("beta") is not None:
        raise SpeError(f"--alpha/--beta apply only to --pool mix, not to --pool {pool}")
    for name in ("epochs", "batch_size", "test_batch_size"):
        values[name] = positive_int(name.replace("_", "-"), _integer(name, values[name]))
    for name in ("lr", "momentum", "weight_decay", "label_smoothing", "lr_gamma",
                 "warmup_epochs", "pool_reg"):
        values[name] = finite(name, values[name])
    for name in ("lr_start", "lr_peak", "lr_end", "bias_lr_scale"):
        if values.get(name) is not None:
            values[name] = finite(name, values[name])
    if values.get("train_subset") is not None:
        values["train_subset"] = positive_int("train-subset", _integer("train-subset", values["train_subset"]))
    val = values.get("val_split")
    if val is not None:
        val = finite("val-split", val)
        if not 0.0 < val < 1.0:
            raise SpeError(f"val-split must be a fraction strictly between 0 and 1, got {val}")
        values["val_split"] = val
    values["seed"] = check_seed(values.get("seed", 0))
    values["milestones"] = [_integer("milestones", m) for m in values["milestones"]]
    return RunConfig(**values)
