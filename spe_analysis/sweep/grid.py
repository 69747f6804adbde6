"""Parsing the sweep's axes: GRID (``start:stop:step`` or a comma list), mix cells, seeds,
extra pools.

Grid points are computed in decimal arithmetic so that ``0:1:0.1`` yields exactly 0.3, not
0.30000000000000004: the points become alpha/beta of run configs, and a float that is off in
the last bit would give a different run id than ``spe train --alpha 0.3``.
"""
from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Iterable

from ..training.config import check_seed, resolve_pool
from ..errors import SpeError
from ..names import EXTRA_POOLS, GRID_HELP, MIXES_HELP
from ..pool_labels import pool_label

MAX_GRID_POINTS = 10_000  # a typo like 0:1:1e-9 should fail fast, not fill memory


def _number(name: str, text: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise SpeError(f"{name}: {text.strip()!r} is not a number; expected {GRID_HELP}") from None
    if not value.is_finite():
        raise SpeError(f"{name}: {text.strip()!r} is not a finite number; expected {GRID_HELP}")
    return value


def _point(name: str, value: Decimal) -> float:
    point = float(value) + 0.0  # + 0.0 turns -0.0 into 0.0: one point, one run id
    if not math.isfinite(point):
        raise SpeError(f"{name}: {value} is too large; expected {GRID_HELP}")
    return point


def parse_grid(text: str | float | int | Iterable, name: str = "grid") -> list[float]:
    """The points of a GRID, in the order given; a list of numbers (from TOML) is accepted too."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        text = str(text)
    if not isinstance(text, str):
        try:
            items = [str(v) for v in text if not isinstance(v, bool)]
        except TypeError:
            raise SpeError(f"{name}: expected {GRID_HELP}, got {text!r}") from None
        return _distinct(name, [_point(name, _number(name, v)) for v in items])
    text = text.strip()
    if not text:
        raise SpeError(f"{name} is empty; expected {GRID_HELP}")
    if ":" in text:
        return _distinct(name, _range(name, text))
    parts = text.split(",")
    if any(not p.strip() for p in parts):
        raise SpeError(f"{name}: empty item in {text!r}; expected {GRID_HELP}")
    return _distinct(name, [_point(name, _number(name, p)) for p in parts])


def _range(name: str, text: str) -> list[float]:
    parts = text.split(":")
    if len(parts) != 3:
        raise SpeError(f"{name}: {text!r} is not start:stop:step; expected {GRID_HELP}")
    start, stop, step = (_number(name, p) for p in parts)
    if step == 0:
        raise SpeError(f"{name}: step must not be zero in {text!r}; expected {GRID_HELP}")
    if (stop - start) * step < 0:
        raise SpeError(f"{name}: {text!r} is an empty grid (the step points away from stop)")
    count = int((stop - start) / step) + 1
    if count > MAX_GRID_POINTS:
        raise SpeError(f"{name}: {text!r} has {count} points; at most {MAX_GRID_POINTS} are accepted")
    return [_point(name, start + i * step) for i in range(count)]


def _distinct(name: str, points: list[float]) -> list[float]:
    if not points:
        raise SpeError(f"{name} is empty; expected {GRID_HELP}")
    seen = set()
    for p in points:
        if p in seen:
            raise SpeError(f"{name}: {p:g} appears twice; list each point once")
        seen.add(p)
    return points




def parse_mixes(value: str | Iterable) -> list[list[float]]:
    """The (alpha, beta) cells of ``--mixes``: ``A:B,A:B`` or a TOML list of [A, B] pairs."""
    if isinstance(value, str):
        items = [item.split(":") for item in value.split(",") if item.strip()]
    else:
        try:
            items = [[str(v) for v in pair] for pair in value]
        except TypeError:
            raise SpeError(f"mixes: expected {MIXES_HELP}, got {value!r}") from None
    if not items or any(len(pair) != 2 for pair in items):
        raise SpeError(f"mixes: expected {MIXES_HELP}, got {value!r}")
    pairs = [[_point("mixes", _number("mixes", a)), _point("mixes", _number("mixes", b))] for a, b in items]
    if len({tuple(p) for p in pairs}) != len(pairs):
        raise SpeError("mixes: a pair appears twice; list each alpha:beta once")
    return pairs


def parse_seeds(value: str | int | Iterable) -> list[int]:
    """``5`` means seeds 0..4; ``0,1,2`` (or a TOML list) names the seeds themselves."""
    if isinstance(value, bool):
        raise SpeError(f"seeds must be a count (e.g. 5) or a comma list (e.g. 0,1,2), got {value!r}")
    if isinstance(value, int):
        value = str(value)
    if isinstance(value, str):
        text = value.strip()
        if "," not in text:
            count = _integer(text)
            if count < 1:
                raise SpeError(f"seeds must be at least 1, got {count}")
            return list(range(count))
        items = text.split(",")
    else:
        try:
            items = list(value)
        except TypeError:
            raise SpeError(f"seeds must be a count or a list of seeds, got {value!r}") from None
        if not items:
            raise SpeError("seeds is an empty list; give a count (e.g. 5) or seeds (e.g. 0,1,2)")
    seeds = [check_seed(_integer(str(s))) for s in items]
    if len(set(seeds)) != len(seeds):
        raise SpeError(f"seeds list a seed twice: {','.join(map(str, seeds))}")
    return seeds


def _integer(text: str) -> int:
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite() or number != number.to_integral_value():
        raise SpeError(f"seeds must be a count (e.g. 5) or a comma list of integers (e.g. 0,1,2), got {text.strip()!r}")
    return int(number)


def parse_pools(value: str | Iterable | None) -> list[str]:
    """The extra pools of ``--also`` (comma list or TOML list) as labels ('lse:4', 'dct'),
    each checked, written one way (``lse:4.0`` is ``lse:4``) and listed once."""

    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    pools = []
    for item in (str(p).strip() for p in items):
        if item in ("avg", "mix"):
            raise SpeError(f"--also {item}: " + ("the avg baseline is always run" if item == "avg" else
                           "mix cells come from --alpha-grid and --beta-grid")
                           + f"; accepted: {', '.join(EXTRA_POOLS)}")
        if item:
            fields = resolve_pool(item)
            pools.append(pool_label(fields["pool"], fields["pool_param"]))
    return list(dict.fromkeys(pools))
