"""From run records to samples: one value per (cell, seed), grouped and in grid order.

A cell is (pool, alpha, beta); the ``avg`` cell is the baseline.  Only ``ok`` runs with a
finite metric give a value; the rest are counted by reason ('failed', 'diverged',
'non_finite').  Runs analysed together may differ only in pool, alpha, beta and seed.
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Any, Iterable, Mapping, Sequence

from ..errors import SpeError
from ..pool_labels import pool_label, split_label

Cell = tuple[str, float | None, float | None]
BASELINE: Cell = ("avg", None, None)
# What may differ between runs of one analysis: the cell (pool with its parameter or a
# user's pool's factory and version, alpha, beta) and the seed.
CELL_SEED_KEYS = ("pool", "alpha", "beta", "seed", "pool_param", "pool_import", "pool_version")
DISPLAY_POOL_ORDER = ("mix", "max", "min", "avgmax", "learned")  # after the baseline; others follow by name
EXCLUSIONS = ("failed", "diverged", "non_finite")
# Config keys that only some pools read: a run of another pool is the same whatever the
# value.  So runs may differ in them across pools, and an avg baseline run joins every group
# of such a key (one baseline serves learned runs of every pool_reg); other cells stay in
# the group of their own value, so no result is counted in two groups.
POOL_SPECIFIC = {"pool_reg": ("learned",)}


def cell_of(record: Mapping[str, Any]) -> Cell:
    config = record.get("config", {})
    alpha, beta = config.get("alpha"), config.get("beta")
    return (pool_label(config.get("pool"), config.get("pool_param")), None if alpha is None else float(alpha),
            None if beta is None else float(beta))


def cell_label(cell: Cell) -> str:
    pool, alpha, beta = cell
    return f"{pool} alpha={alpha:g} beta={beta:g}" if pool == "mix" else str(pool)


def grid_order(cells: Iterable[Cell]) -> list[Cell]:
    """Baseline first, then mix cells by alpha then beta, then the other pools."""
    def key(cell: Cell):
        pool, alpha, beta = cell
        if cell == BASELINE:
            return (0, 0, "", 0.0, 0.0, 0.0)
        name, param = split_label(str(pool))  # lse:0.5 before lse:4, by value
        rank = DISPLAY_POOL_ORDER.index(pool) if pool in DISPLAY_POOL_ORDER else len(DISPLAY_POOL_ORDER)
        return (1, rank, name, param if param is not None else 0.0,
                alpha if alpha is not None else 0.0, beta if beta is not None else 0.0)
    return sorted(set(cells), key=key)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def numeric_metrics(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """Names of the metrics that hold a finite number in at least one record."""
    return sorted({name for r in records for name, value in (r.get("metrics") or {}).items()
                   if _is_number(value) and math.isfinite(value)})


def check_metric(records: Sequence[Mapping[str, Any]], metric: str) -> None:
    accepted = numeric_metrics(records)
    if metric not in accepted:
        raise SpeError(f"metric {metric!r} has no finite number in these runs; "
                       f"accepted: {', '.join(accepted) or 'none'}")


def applies(record: Mapping[str, Any], key: str) -> bool:
    """Whether config ``key`` can change what the run computes (see POOL_SPECIFIC)."""
    pools = POOL_SPECIFIC.get(key)
    return pools is None or record.get("config", {}).get("pool") in pools


def differing_keys(records: Iterable[Mapping[str, Any]], ignore: Iterable[str] = ()) -> list[str]:
    """Config keys whose value is not the same in every record (besides CELL_SEED_KEYS and ``ignore``)."""
    ignore = set(CELL_SEED_KEYS) | set(ignore)
    records = list(records)
    keys = {k for r in records for k in r.get("config", {})} - ignore
    return sorted(k for k in keys
                  if len({repr(r.get("config", {}).get(k)) for r in records if applies(r, k)}) > 1)


def split_groups(records: Sequence[Mapping[str, Any]], group_by: Sequence[str] = ()
                 ) -> list[tuple[dict[str, Any], list[Mapping[str, Any]]]]:
    """Records split by the config keys ``group_by``; refuses when runs of a group differ otherwise."""
    known = sorted({k for r in records for k in r.get("config", {})} - set(CELL_SEED_KEYS))
    for key in group_by:
        if key not in known:
            raise SpeError(f"cannot group by {key!r}; accepted: {', '.join(known)}")
    groups: dict[str, tuple[dict[str, Any], list]] = {}
    def shared(record) -> bool:
        return cell_of(record) == BASELINE and not all(applies(record, k) for k in group_by)

    for record in sorted(records, key=shared):  # shared baseline runs last, to join every group
        config = record.get("config", {})
        values = {k: config.get(k) for k in group_by}
        matching = [members for fixed, members in groups.values()
                    if all(fixed[k] == values[k] for k in group_by if applies(record, k))]
        if not shared(record) or not matching:
            matching = [groups.setdefault(repr(list(values.values())), (values, []))[1]]
        for members in matching:
            members.append(record)
    differing = sorted({k for _, members in groups.values()
                        for k in differing_keys(members, ignore=group_by)})
    if differing:
        raise SpeError(f"runs differ in {', '.join(differing)} (besides pool/alpha/beta/seed); "
                       f"analyse them apart with --group-by KEY[,KEY] (e.g. --group-by {differing[0]})")
    return [groups[k] for k in sorted(groups)]


def collect(records: Iterable[Mapping[str, Any]], metric: str
            ) -> tuple[dict[Cell, dict[int, float]], dict[Cell, Counter]]:
    """Per cell: {seed: value} of the usable runs, and a count of the left-out runs by reason."""
    values: dict[Cell, dict[int, float]] = defaultdict(dict)
    excluded: dict[Cell, Counter] = defaultdict(Counter)
    for record in records:
        cell = cell_of(record)
        value = (record.get("metrics") or {}).get(metric)
        status = record.get("status")
        if status != "ok":
            excluded[cell]["diverged" if status == "diverged" else "failed"] += 1
        elif not (_is_number(value) and math.isfinite(value)):
            excluded[cell]["non_finite"] += 1
        else:
            values[cell][int(record.get("config", {}).get("seed", 0))] = float(value)
    return dict(values), dict(excluded)


def load_samples(records: Sequence[Mapping[str, Any]], metric: str
                 ) -> tuple[dict[int, float], dict[Cell, dict[int, float]], dict[Cell, Counter]]:
    """Checked samples of one sweep: (baseline, every cell, left-out counts).

    Raises SpeError when there are no records, the metric is not a number in any of them,
    runs differ in more than pool/alpha/beta/seed, or no avg baseline run exists at all.
    """
    if not records:
        raise SpeError("no run records to analyse; a sweep directory holds them under runs/")
    check_metric(records, metric)
    split_groups(records)
    values, excluded = collect(records, metric)
    if BASELINE not in values and BASELINE not in excluded:
        raise SpeError("no avg baseline run in these records; a sweep needs --pool avg runs "
                       "with the same seeds to compare against")
    return values.get(BASELINE, {}), values, excluded
