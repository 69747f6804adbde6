"""The sweep specification: its grid extent, the hyperparameters every run shares, and the
``DIR/sweep.toml`` file that pins them.

The same flat keys serve ``--config`` files and the written ``sweep.toml``: the option names
of ``spe sweep`` with underscores (``alpha_grid``, ``seeds``, ``dataset``, ``workers``...) and
every hyperparameter of :class:`~spe_analysis.training.config.RunConfig` (``lr``, ``batch_size``...).
The written file holds the resolved values, so ``spe sweep --config DIR/sweep.toml --out DIR``
reproduces the sweep.  A sweep directory accepts a new command when only the extent (grids,
seeds, extra pools) differs; the extent stored becomes the union of both.
"""
from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import tomli_w

from ..training.config import RunConfig, constant_mix, resolve_config
from ..errors import SpeError
from ..stats.sequential import Design, parse_looks
from .grid import parse_grid, parse_mixes, parse_pools, parse_seeds

SCHEMA = "spe.sweep/1"
SPEC_FILE = "sweep.toml"
DEFAULT_SEEDS = 5
PER_RUN_KEYS = ("pool", "alpha", "beta", "seed", "pool_param", "pool_import", "pool_version")  # vary per run
TRAIN_KEYS = tuple(f.name for f in dataclasses.fields(RunConfig) if f.name not in PER_RUN_KEYS)
EXTENT_KEYS = ("alpha_grid", "beta_grid", "mixes", "seeds", "also", "include_zero")
# How and where runs execute: never part of a run's identity, never compared on resume.
EXECUTION_KEYS = {"device": str, "data_dir": str, "workers": (int, str), "threads": int,
                  "executor": str, "ray_address": str, "num_cpus": (int, float),
                  "num_gpus": (int, float), "stale_after": (int, float),
                  "slurm_partition": str, "slurm_time": int, "slurm_gpus": int, "slurm_cpus": int,
                  "slurm_mem": str, "slurm_array_parallelism": int, "slurm_option": dict,
                  "fuse": (int, str)}
# The group-sequential design (``--until-decided``); absent from a fixed sweep's sweep.toml,
# so those files and their run ids stay as they were.
DESIGN_KEYS = {"until_decided": bool, "looks": (list, str, int), "max_seeds": int, "spending": str,
               "significance": (int, float), "margin": (int, float)}

Cell = tuple[str, "float | None", "float | None"]  # (pool, alpha, beta)


@dataclass
class SweepSpec:
    alpha_grid: list[float]
    beta_grid: list[float]
    seeds: list[int]
    also: list[str]
    include_zero: bool
    base: RunConfig  # the resolved hyperparameters every run shares (pool/alpha/beta/seed aside)
    until_decided: bool = False  # group-sequential: seeds run look by look while a cell is open
    looks: list[int] | None = None  # seeds per arm at each look; the last is len(seeds)
    spending: str = "obf"
    significance: float = 0.05  # family-wise, two-sided
    margin: float = 0.5  # equivalence margin of the design's TOST
    mixes: list[list[float]] | None = None  # only these [alpha, beta] cells of the grid; None: all

    def design_options(self) -> dict[str, Any]:
        """The sequential design as sweep.toml keys; empty for a fixed sweep."""
        if not self.until_decided:
            return {}
        return {"until_decided": True, "looks": self.looks, "spending": self.spending,
                "significance": self.significance, "margin": self.margin}

    def design(self) -> Design:
        """The design's boundaries, Bonferroni-split over the cells compared with the baseline."""
        return Design(tuple(self.looks), self.spending, self.significance, self.margin,
                      len(self.cells()) - 1)

    def train_options(self) -> dict[str, Any]:
        full = self.base.to_dict()
        return {k: full[k] for k in TRAIN_KEYS if full.get(k) is not None}

    def cells(self) -> list[Cell]:
        """The avg baseline, the extra pools, then the mix cells alpha-major."""
        mix = [("mix", a, b) for a in self.alpha_grid for b in self.beta_grid
               if ([a, b] in self.mixes if self.mixes is not None
                   else self.include_zero or not constant_mix(a, b))]
        return [("avg", None, None)] + [(p, None, None) for p in self.also] + mix

    def configs(self) -> list[RunConfig]:
        """Every run, seed by seed, so that an interrupted sweep has whole seeds first."""
        options = self.train_options()
        return [resolve_config(**options, pool=pool, alpha=alpha, beta=beta, seed=seed)
                for seed in self.seeds for pool, alpha, beta in self.cells()]

    def extent(self) -> dict[str, Any]:
        mixes = {} if self.mixes is None else {"mixes": self.mixes}  # absent: as before it existed
        return {"alpha_grid": self.alpha_grid, "beta_grid": self.beta_grid, **mixes, "seeds": self.seeds,
                "also": self.also, "include_zero": self.include_zero}

    def to_toml(self) -> str:
        body = {"schema": SCHEMA, **self.extent(), **self.design_options(), **self.train_options()}
        return ("# spe sweep specification: the grid extent and the resolved hyperparameters that\n"
                "# every run shares.  Rerun or extend with: spe sweep --config sweep.toml --out DIR\n"
                + tomli_w.dumps(body))

    def differences(self, other: "SweepSpec") -> list[str]:
        """The shared hyperparameters that differ, as ``key old -> new``."""
        mine, theirs = self.base.to_dict(), other.base.to_dict()
        differs = [f"{k} {mine.get(k)!r} -> {theirs.get(k)!r}" for k in TRAIN_KEYS if mine.get(k) != theirs.get(k)]
        design, other_design = self.design_options(), other.design_options()
        if design or other_design:  # a sequential design fixes its seeds too
            design["seeds"], other_design["seeds"] = self.seeds, other.seeds
        return differs + [f"{k} {design.get(k)!r} -> {other_design.get(k)!r}"
                          for k in dict.fromkeys([*design, *other_design]) if design.get(k) != other_design.get(k)]

    def union(self, other: "SweepSpec") -> "SweepSpec":
        return dataclasses.replace(
            self, alpha_grid=sorted({*self.alpha_grid, *other.alpha_grid}),
            beta_grid=sorted({*self.beta_grid, *other.beta_grid}),
            seeds=sorted({*self.seeds, *other.seeds}),
            mixes=(None if self.mixes is None or other.mixes is None
                   else self.mixes + [m for m in other.mixes if m not in self.mixes]),
            also=list(dict.fromkeys([*self.also, *other.also])),
            include_zero=self.include_zero or other.include_zero)


_TOML_TYPES = {"int": int, "float": (int, float), "bool": bool, "str": str, "list[int]": list}


def _check_type(key: str, value: Any) -> None:
    """Reject a config value of the wrong TOML type with one line (TOML has no null)."""
    if key in EXTENT_KEYS and key != "include_zero":
        return  # parsed, and checked, by grid.py
    if key in EXECUTION_KEYS or key in DESIGN_KEYS:
        expected = {**EXECUTION_KEYS, **DESIGN_KEYS}[key]
    elif key == "include_zero":
        expected = bool
    else:
        annotation = next(f.type for f in dataclasses.fields(RunConfig) if f.name == key)
        expected = _TOML_TYPES[str(annotation).split("|")[0].strip()]
    if (not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool)
            or (expected is list and not all(isinstance(v, int) and not isinstance(v, bool) for v in value))):
        names = ("list of integers" if expected is list else expected.__name__ if isinstance(expected, type)
                 else " or ".join(t.__name__ for t in expected))
        raise SpeError(f"{key} must be of type {names}, got {value!r}")


def read_config(path: str | Path) -> dict[str, Any]:
    """The options of a ``--config`` TOML file, keys checked against the accepted ones."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SpeError(f"cannot read config {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpeError(f"{path} is not valid TOML: {exc}") from None
    schema = data.pop("schema", SCHEMA)
    if schema != SCHEMA:
        raise SpeError(f"{path} has schema {schema!r}; accepted: {SCHEMA}")
    accepted = (*EXTENT_KEYS, *DESIGN_KEYS, *TRAIN_KEYS, *EXECUTION_KEYS)
    options = {}
    for key, value in data.items():
        name = key.replace("-", "_")
        if name not in accepted:
            raise SpeError(f"unknown key {key!r} in {path}; accepted: {', '.join(accepted)}")
        _check_type(name, value)
        options[name] = value
    return options


def build_spec(options: Mapping[str, Any]) -> SweepSpec:
    """A SweepSpec from flat options (config file merged with flags); None means unset."""
    options = {k: v for k, v in options.items() if v is not None}
    mixes = parse_mixes(options["mixes"]) if "mixes" in options else None
    if mixes is not None:  # the grids are the pairs' alphas and betas unless given
        options.setdefault("alpha_grid", sorted({a for a, _ in mixes}))
        options.setdefault("beta_grid", sorted({b for _, b in mixes}))
    also = parse_pools(options.get("also"))
    # Without mix cells (both grids left out, or empty in a sweep.toml) --also names the cells.
    grids = [k for k in ("alpha_grid", "beta_grid") if options.get(k) not in (None, [])]
    if len(grids) == 1 or not (grids or also):
        missing = next(k for k in ("alpha_grid", "beta_grid") if k not in grids)
        raise SpeError(f"--{missing.replace('_', '-')} is required (GRID: e.g. 0:1:0.25 or 0,0.5,1)"
                       + ("" if grids else "; a sweep of other pools alone names them with --also"))
    train = {k: options[k] for k in TRAIN_KEYS if k in options}
    design = _design(options)
    seeds = parse_seeds(options.get("seeds", design["looks"][-1] if design else DEFAULT_SEEDS))
    if design and len(seeds) != design["looks"][-1]:
        raise SpeError(f"--seeds names {len(seeds)} seeds but the last look needs {design['looks'][-1]}; "
                       "leave --seeds out with --until-decided (seeds 0 to max-1 are used)")
    alpha_grid = parse_grid(options["alpha_grid"], "alpha-grid") if grids else []
    beta_grid = parse_grid(options["beta_grid"], "beta-grid") if grids else []
    off_grid = [f"{a:g}:{b:g}" for a, b in mixes or () if a not in alpha_grid or b not in beta_grid]
    if off_grid:
        raise SpeError(f"mixes {', '.join(off_grid)} lie off the alpha/beta grids; leave the grids out with --mixes")
    return SweepSpec(
        alpha_grid=alpha_grid, beta_grid=beta_grid, mixes=mixes,
        seeds=seeds,
        also=also,
        include_zero=bool(options.get("include_zero", False)),
        base=resolve_config(**train, pool="avg", seed=0), **design)


def _design(options: Mapping[str, Any]) -> dict[str, Any]:
    """The sequential design's SweepSpec fields from flat options, checked; {} for a fixed sweep."""
    if not options.get("until_decided"):
        given = [k for k in DESIGN_KEYS if k in options and k != "until_decided"]
        if given:
            raise SpeError(f"--{given[0].replace('_', '-')} belongs to a group-sequential sweep; "
                           "add --until-decided")
        return {}
    if "looks" not in options:
        raise SpeError("--until-decided needs --looks: seeds per arm at each look (e.g. 3,5,8,12), "
                       "or a count with --max-seeds (e.g. --looks 4 --max-seeds 12)")
    looks = parse_looks(options["looks"], options.get("max_seeds"))
    design = Design(tuple(looks), options.get("spending", "obf"), float(options.get("significance", 0.05)),
                    float(options.get("margin", 0.5)))  # checks the values
    return {"until_decided": True, "looks": looks, "spending": design.spending,
            "significance": design.alpha, "margin": design.margin}


def spec_path(out_dir: str | Path) -> Path:
    return Path(out_dir) / SPEC_FILE


def read_spec(out_dir: str | Path) -> SweepSpec | None:
    """The specification stored in ``DIR/sweep.toml``, None when there is none."""
    path = spec_path(out_dir)
    if not path.exists():
        return None
    try:
        return build_spec(read_config(path))
    except SpeError as exc:
        raise SpeError(f"{path} is not a readable sweep specification ({exc})") from None
