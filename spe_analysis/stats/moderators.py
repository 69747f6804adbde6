"""Moderators of ``spe meta --moderator KEY``: settings in, the ``regression`` object of
``spe.meta/1`` out.

A moderator is a property of a setting: a config key whose value is the same for every run
of a setting and differs between settings, or ``baseline_acc``, the setting's avg mean of the
metric.  Numbers (epochs, train_subset, baseline_acc) enter the design as they are; any
other value (attention, dataset, model) is categorical, one indicator column per level
besides the first in sorted order (the reference, as an R factor).  Per cell, the settings
with an estimate are regressed by :func:`.meta_regression.fit`; a cell with too few of them
for the coefficients, or among which a moderator does not vary, gets nulls and a ``note``.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ..errors import SpeError
from .cells import CELL_SEED_KEYS, applies
from .meta import LEVEL
from .meta_regression import fit, predict

BASELINE_ACC = "baseline_acc"
INTERCEPT = "intercept"


class ModeratorError(SpeError):
    """A moderator that cannot be fitted for these settings (it does not vary, or there are
    too few settings for the coefficients)."""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _short(value: Any) -> str:
    """A level's name: a path cut to its last part, as settings are labelled."""
    return value.rsplit("/", 1)[-1] if isinstance(value, str) else str(value)


def _labels(values: Sequence[Any]) -> dict[str, str]:
    """Each distinct value (by repr) -> its level name: paths cut to their last part, as
    settings are labelled, unless two values would then read alike."""
    distinct = {repr(v): v for v in values}
    short = {r: _short(v) for r, v in distinct.items()}
    return short if len(set(short.values())) == len(short) else {r: str(v) for r, v in distinct.items()}


@dataclass(frozen=True)
class Moderator:
    """One moderator: its value per setting (None where a setting has no value) and, when
    categorical, the level name of each value; the first level in sorted order is the
    reference."""

    key: str
    values: tuple[Any, ...]
    labels: Mapping[str, str] | None = None  # repr(value) -> level; None when numeric

    @property
    def numeric(self) -> bool:
        return self.labels is None

    @property
    def levels(self) -> list[str]:
        return sorted(set(self.labels.values()))

    @property
    def columns(self) -> list[str]:
        return [self.key] if self.numeric else [f"{self.key}={level}" for level in self.levels[1:]]

    def level(self, value: Any) -> str:
        """A setting's level name; an --at point holds the level name itself."""
        return self.labels.get(repr(value), value)

    def row(self, value: Any) -> list[float]:
        if self.numeric:
            return [float(value)]
        return [float(self.level(value) == level) for level in self.levels[1:]]

    def parse(self, text: str) -> Any:
        """An --at value of this moderator: a finite number, or a level (by name or value)."""
        if self.numeric:
            try:
                number = float(text)
            except ValueError:
                number = math.nan
            if not math.isfinite(number):
                raise SpeError(f"--at {self.key}={text}: {self.key} is numeric; give a finite number")
            return number
        for value in self.values:
            if str(value) == text:
                return self.level(value)
        if text in self.levels:
            return text
        raise SpeError(f"--at {self.key}={text}: unknown level; accepted: {', '.join(self.levels)}")


@dataclass(frozen=True)
class Design:
    """The moderators of a meta-regression and the points (``--at``) to predict at."""

    moderators: tuple[Moderator, ...]
    at: tuple[dict[str, Any], ...] = ()

    @property
    def columns(self) -> list[str]:
        return [INTERCEPT, *(c for m in self.moderators for c in m.columns)]

    def row(self, point: Mapping[str, Any]) -> list[float]:
        """The design row of one setting's (or --at point's) moderator values."""
        return [1.0, *(x for m in self.moderators for x in m.row(point[m.key]))]

    def setting_values(self, index: int) -> dict[str, Any]:
        return {m.key: m.values[index] for m in self.moderators}


def _config_value(key: str, config: Mapping[str, Any], members: Sequence[Mapping[str, Any]]) -> Any:
    """The setting's value of config ``key``: from its name, else from its runs (which agree:
    split_groups refuses runs of a setting that differ in more than pool/alpha/beta/seed)."""
    if key in config:
        return config[key]
    return next((r["config"][key] for r in members
                 if key in r.get("config", {}) and applies(r, key)), None)


def _moderator(key: str, values: list[Any]) -> Moderator:
    """Numeric when every value is a finite number (baseline_acc: every value present),
    else categorical."""
    present = [v for v in values if v is not None] if key == BASELINE_ACC else values
    if all(_is_number(v) for v in present):
        return Moderator(key, tuple(values))
    return Moderator(key, tuple(values), _labels(values))


def design(settings: Sequence[Mapping[str, Any]], moderators: Sequence[str], at: Sequence[str] = (),
           groups: Sequence[tuple[Mapping[str, Any], Sequence[Mapping[str, Any]]]] | None = None
           ) -> Design:
    """The Design of ``moderators`` for ``settings`` (``spe.meta/1`` settings, in order), with
    config values read from ``groups`` (each setting's config and runs; not needed for
    ``baseline_acc``) and the ``--at`` points ``KEY=VALUE``.

    ModeratorError when a moderator does not vary or the settings are too few for the
    coefficients; SpeError on an unknown or repeated key or a bad --at.
    """
    known = {k for config, members in (groups or ()) for r in members
             for k in r.get("config", {})} - set(CELL_SEED_KEYS)
    built = []
    for key in moderators:
        if key not in known and key != BASELINE_ACC:
            varying = [k for k in sorted(known)
                       if len({repr(_config_value(k, c, m)) for c, m in groups}) > 1]
            raise SpeError(f"unknown moderator {key!r}; accepted: a config key that differs "
                           f"between the settings ({', '.join(varying) or 'none'}) or {BASELINE_ACC}")
        if key in (m.key for m in built):
            raise SpeError(f"--moderator {key} is given twice")
        if key == BASELINE_ACC:
            values = [s["baseline"]["mean"] for s in settings]
        else:
            values = [_config_value(key, config, members) for config, members in groups]
        distinct = {repr(v) for v in values if v is not None}
        if len(distinct) < 2:
            raise ModeratorError(f"moderator {key!r} does not vary across the settings (all "
                                 f"{', '.join(sorted(distinct)) or 'missing'}); accepted: a "
                                 f"config key that differs between them, or {BASELINE_ACC}")
        built.append(_moderator(key, values))
    result = Design(tuple(built))
    p = len(result.columns)
    if len(settings) <= p:
        raise ModeratorError(f"{len(settings)} settings cannot fit {p} coefficients "
                             f"({', '.join(result.columns)}): a meta-regression needs at least "
                             f"{p + 1} settings; give fewer moderators or more settings")
    return Design(result.moderators, _points(result, at))


def _points(design: Design, at: Sequence[str]) -> tuple[dict[str, Any], ...]:
    """The --at points: every combination of the values given per moderator, in their order."""
    given: dict[str, list[Any]] = {}
    by_key = {m.key: m for m in design.moderators}
    for item in at:
        key, sep, text = item.partition("=")
        key, text = key.strip(), text.strip()
        if not sep or not key or not text:
            raise SpeError(f"--at takes KEY=VALUE (e.g. {design.moderators[0].key}=75), got {item!r}")
        if key not in by_key:
            raise SpeError(f"--at {key}: not a moderator; accepted: {', '.join(by_key)}")
        value = by_key[key].parse(text)
        if value not in given.setdefault(key, []):
            given[key].append(value)
    if given and len(given) < len(by_key):
        missing = [k for k in by_key if k not in given]
        raise SpeError(f"--at gives no value of {', '.join(missing)}; a prediction needs a value "
                       f"of every moderator")
    keys = list(by_key)
    return tuple(dict(zip(keys, combo)) for combo in itertools.product(*(given.get(k, []) for k in keys))) \
        if given else ()


def _cell_fit(cell: Mapping[str, Any], design: Design, method_re: str, ci: str) -> dict[str, Any]:
    points = [design.setting_values(i) for i in range(len(cell["studies"]))]
    usable = [(s, point) for s, point in zip(cell["studies"], points)
              if s["delta"] is not None and all(v is not None for v in point.values())]
    where = {k: cell[k] for k in ("pool", "alpha", "beta")}
    columns = design.columns
    try:
        result = fit([s["delta"] for s, _ in usable], [s["variance"] for s, _ in usable],
                     [design.row(point) for _, point in usable], columns, method_re, ci)
    except ValueError as exc:
        return {**where, "k": len(usable), "p": len(columns), **EMPTY, "note": str(exc)}
    estimates = [c.estimate for c in result.coefficients]
    predictions = [{"at": point, **vars(predict(estimates, result.vcov, result.df, design.row(point)))}
                   for point in design.at]
    fields = result.to_dict()
    return {**where, **fields, "coefficients": list(fields["coefficients"]),
            "vcov": [list(row) for row in fields["vcov"]], "predictions": predictions, "note": None}


EMPTY = {"df": None, "coefficients": [], "vcov": None, "tau2": None, "i2": None, "qe": None,
         "qe_p": None, "qm": None, "qm_df1": None, "qm_df2": None, "qm_p": None, "tau2_re": None,
         "r2": None, "predictions": []}


def regression(result: Mapping[str, Any], design: Design) -> dict[str, Any]:
    """The ``regression`` object of ``spe.meta/1`` for the cells of ``result`` (see the module):
    on the studies' variances and with the ``ci`` of the pooled model."""
    ci = result["ci"]
    moderators = design.moderators
    return {"moderators": [m.key for m in moderators],
            "kinds": {m.key: "numeric" if m.numeric else "categorical" for m in moderators},
            "levels": {m.key: m.levels for m in moderators if not m.numeric},
            "columns": design.columns, "method_re": result["method_re"], "ci": ci,
            "ci_level": LEVEL,
            "settings": [{"setting": s["name"], "values": design.setting_values(i)}
                         for i, s in enumerate(result["settings"])],
            "at": list(design.at),
            "cells": [_cell_fit(cell, design, result["method_re"], ci) for cell in result["cells"]]}
