"""Several settings in, one random-effects answer per cell out (``spe meta``, ``spe.meta/1``).

A *setting* is one combination of the config keys that differ between the records besides
pool, alpha, beta and seed (or of the ``--group-by`` keys), e.g. ``attention=eca``.  Each
setting is analysed as ``spe stats`` does (its own verdicts); then, per cell, its effect
``delta = mean(cell) - mean(avg)`` with variance ``sd_cell^2 / n_cell + sd_avg^2 / n_avg``
(both arms with at least 2 usable runs) is pooled across the settings by :mod:`.meta`, the
pooled p-values are corrected across cells, and the verdict follows the rules of spe stats.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from ..errors import SpeError, choose
from . import corrections
from .analysis import check_options, compare
from .cells import BASELINE, Cell, cell_of, check_metric, collect, differing_keys, grid_order, split_groups
from .meta import CI_METHODS, METHODS_RE, pool
from .meta_regression import DEFAULT_REGRESSION_CI
from .moderators import design as moderator_design, regression
from .verdicts import CORRECTION_NAMES, VERDICTS, verdict

SCHEMA = "spe.meta/1"
CORRECTIONS = ("holm", "bh", "by", "none")  # Dunnett needs samples, not pooled p-values
METHOD_NAMES = {"pm": "Paule-Mandel", "dl": "DerSimonian-Laird"}
CI_NAMES = {"hksj": "HKSJ t", "normal": "normal"}


class OneSetting(SpeError):
    """The runs form a single setting: there is nothing to compare across."""


class SharedBaseline(SpeError):
    """Two settings share avg runs (e.g. pool_reg settings, whose avg runs serve every
    pool_reg): their effects are correlated, so they are not independent studies to pool."""


def setting_name(config: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in config.items())


def setting_label(config: Mapping[str, Any], keys: bool = True) -> str:
    """A short name of a setting, paths cut to their last part: 'attention=eca,
    dataset=cifar10-jpeg.tar.gz'; without ``keys`` (figures, whose axis names the keys) text
    values stand alone: 'eca, cifar10-jpeg.tar.gz, epochs=6'."""
    return ", ".join(v.rsplit("/", 1)[-1] if isinstance(v, str) and not keys else
                     f"{k}={v.rsplit('/', 1)[-1] if isinstance(v, str) else v}" for k, v in config.items())


def setting_labels(settings: Sequence[Mapping[str, Any]], keys: bool = True) -> dict[str, str]:
    """Each setting's name -> its short label; the names themselves if two labels coincide."""
    labels = {s["name"]: setting_label(s["config"], keys) for s in settings}
    return labels if len(set(labels.values())) == len(labels) else {name: name for name in labels}


def settings_of(records: Sequence[Mapping[str, Any]], group_by: Sequence[str] = ()
                ) -> list[tuple[dict[str, Any], list[Mapping[str, Any]]]]:
    """The records split into settings: by ``group_by``, else by every key that differs.

    SpeError when there are no records, OneSetting when they form one setting.
    """
    if not records:
        raise SpeError("no run records to analyse; a sweep directory holds them under runs/")
    groups = split_groups(records, list(group_by) or differing_keys(records))
    if len(groups) < 2:
        raise OneSetting("these runs form one setting (no config key besides pool/alpha/beta/seed "
                       "differs); give several sweep DIRs that differ in a key such as attention "
                       "or dataset, or --group-by KEY")
    return groups


def check_independent(groups: Sequence[tuple[dict[str, Any], list[Mapping[str, Any]]]]) -> None:
    """SharedBaseline when an avg run belongs to two settings."""
    owner: dict[str, str] = {}
    for config, members in groups:
        name = setting_name(config)
        for record in members:
            run_id = record.get("run_id")
            if run_id is not None and cell_of(record) == BASELINE and owner.setdefault(run_id, name) != name:
                raise SharedBaseline(
                    f"settings '{owner[run_id]}' and '{name}' share avg runs, so they are not "
                    "independent studies and cannot be pooled; compare them with spe stats --group-by KEY")


def check_meta_options(method_re: str, ci: str, correction: str, margin: float,
                       significance: float) -> None:
    choose("--method-re", method_re, METHODS_RE)
    choose("--ci", ci, CI_METHODS)
    choose("correction", correction, CORRECTIONS)
    check_options("welch", correction, margin, significance)


def _study(name: str, row: Mapping[str, Any] | None, base: Mapping[str, Any]) -> dict[str, Any]:
    """One setting's entry for a cell; delta and variance need 2 usable runs in both arms."""
    if row is None:  # this setting has no run of the cell at all
        return {"setting": name, "n": 0, "n_baseline": base["n"], "delta": None,
                "variance": None, "ci_low": None, "ci_high": None, "verdict": None}
    ok = row["n"] >= 2 and base["n"] >= 2 and row["sd"] is not None and base["sd"] is not None
    return {"setting": name, "n": row["n"], "n_baseline": base["n"],
            "delta": row["delta"] if ok else None,
            "variance": row["sd"] ** 2 / row["n"] + base["sd"] ** 2 / base["n"] if ok else None,
            "ci_low": row["ci_low"], "ci_high": row["ci_high"], "verdict": row["verdict"]}


def _claim(settings: list[dict], cells: list[dict], *, method_re: str, ci: str,
           correction: str, margin: float, significance: float) -> dict[str, Any]:
    """Counts of pooled verdicts, whether the claim holds across settings, and in which alone."""
    counts = {v: sum(c["verdict"] == v for c in cells) for v in VERDICTS}
    mix = [c for c in cells if c["pool"] == "mix" and c["verdict"] != "insufficient"]
    good = [c for c in mix if c["verdict"] in ("better", "equivalent")]
    labels = setting_labels(settings)
    holding = [labels[s["name"]] for s in settings if s["holds"]]
    method = (f"{METHOD_NAMES[method_re]} random effects, {CI_NAMES[ci]} intervals, "
              f"{CORRECTION_NAMES[correction]}, significance {significance:g}")
    n = len(settings)
    if not mix:
        first = (f"The claim cannot be checked across the {n} settings: no mix cell has an "
                 f"estimate (2 usable runs of it and of avg) in at least 2 of them.")
    elif good:
        better = sum(c["verdict"] == "better" for c in good)
        first = (f"The claim holds across the {n} settings: {len(good)} of {len(mix)} pooled mix "
                 f"cells match or exceed avg pooling ({better} better, {len(good) - better} "
                 f"equivalent within ±{margin:g} points; {method}).")
    else:
        first = (f"The claim is not supported across the {n} settings: none of the {len(mix)} "
                 f"pooled mix cells is better than or equivalent to avg pooling within "
                 f"±{margin:g} points ({method}).")
    alone = (f"Within single settings (spe stats) it holds in {len(holding)} of {n}"
             + (f": {'; '.join(holding)}." if holding else "."))
    return {**counts, "holds": bool(good), "settings_holding": len(holding),
            "statement": f"{first} {alone}"}


def meta_analyze(records: Sequence[Mapping[str, Any]], group_by: Sequence[str] = (), *,
                 metric: str = "final_test_acc", method_re: str = "pm", ci: str = "hksj",
                 correction: str = "holm", margin: float = 0.5, significance: float = 0.05,
                 unreadable: int = 0, moderators: Sequence[str] = (), at: Sequence[str] = (),
                 moderator_ci: str = DEFAULT_REGRESSION_CI) -> dict[str, Any]:
    """Run records of several settings in, the ``spe.meta/1`` dictionary out (see the module).

    ``unreadable`` counts the record files that could not be read (they belong to no setting).
    With ``moderators`` the result has a ``regression`` object (:mod:`.moderators`), with
    predictions at the ``at`` points ('KEY=VALUE') and intervals by ``moderator_ci``.

    Cells come in grid order; each has one study per setting, in the order of ``settings``
    (``n`` 0 and nulls where the setting has no run of the cell).  Every float is finite or
    None.  SpeError on bad options, no records, one setting, settings that share avg runs
    (SharedBaseline), or settings that share no cell.
    """
    check_meta_options(method_re, ci, correction, margin, significance)
    groups = settings_of(records, group_by)
    check_independent(groups)
    check_metric(records, metric)
    settings, by_cell = [], {}
    for config, members in groups:
        values, excluded = collect(members, metric)
        result = compare(values.get(BASELINE, {}), values, correction=correction, margin=margin,
                         significance=significance, excluded=excluded)
        base = result["baseline"]
        name = setting_name(config)
        settings.append({"name": name, "config": config,
                         "baseline": {k: base[k] for k in ("n", "mean", "sd")},
                         "holds": result["claim"]["holds"],
                         "n_excluded": sum(result["excluded"].values())})
        for row in result["cells"]:
            by_cell.setdefault((row["pool"], row["alpha"], row["beta"]), {})[name] = (row, base)
    design = moderator_design(settings, moderators, at, groups) if moderators else None
    shared = [cell for cell, rows in by_cell.items() if len(rows) >= 2]
    if not shared:
        raise SpeError("the settings share no cell (pool, alpha, beta) besides avg; a cell is "
                       "compared across settings only where at least two of them ran it")
    cells = []
    for cell in grid_order(by_cell):
        rows = by_cell[cell]
        studies = [_study(s["name"], *rows.get(s["name"], (None, s["baseline"])))
                   for s in settings]
        usable = [s for s in studies if s["delta"] is not None]
        pooled = pool([s["delta"] for s in usable], [s["variance"] for s in usable],
                      method_re, ci, margin)
        cells.append({"pool": cell[0], "alpha": cell[1], "beta": cell[2], "studies": studies,
                      **pooled.to_dict()})
    tested = [c for c in cells if c["k"] >= 2]
    for key in ("p", "tost_p"):
        for c, adjusted in zip(tested, corrections.adjust([c[key] for c in tested], correction)):
            c[f"{key}_adjusted"] = float(adjusted)
    for c in cells:
        c.setdefault("p_adjusted", None)
        c.setdefault("tost_p_adjusted", None)
        c["verdict"] = verdict(c["k"] >= 2, c["delta"], c["p_adjusted"], c["tost_p_adjusted"],
                               significance)
    cells = [_ordered(c) for c in cells]
    result = {"schema": SCHEMA, "metric": metric, "method_re": method_re, "ci": ci,
              "correction": correction, "margin": margin, "significance": significance,
              "ci_level": 0.95, "test": "welch", "group_by": [k for k in groups[0][0]],
              "settings": settings, "cells": cells, "unreadable": unreadable,
              "claim": _claim(settings, cells, method_re=method_re, ci=ci, correction=correction,
                              margin=margin, significance=significance)}
    if design is not None:
        result["regression"] = regression(result, design, moderator_ci)
    return result


CELL_FIELDS = ("pool", "alpha", "beta", "k", "studies", "delta", "se", "ci_low", "ci_high", "p",
               "p_adjusted", "tost_p", "tost_p_adjusted", "tau2", "i2", "q", "q_p", "pi_low",
               "pi_high", "verdict")


def _ordered(cell: Mapping[str, Any]) -> dict[str, Any]:
    return {k: cell[k] for k in CELL_FIELDS}


def only_cell(result: Mapping[str, Any], cell: Cell) -> dict[str, Any]:
    """``result`` with just ``cell`` (its numbers as corrected over every cell); SpeError when absent."""
    kept = [c for c in result["cells"] if (c["pool"], c["alpha"], c["beta"]) == cell]
    if not kept:
        accepted = "; ".join(f"{c['alpha']:g},{c['beta']:g}" for c in result["cells"]
                             if c["pool"] == "mix")
        raise SpeError(f"no cell alpha={cell[1]:g}, beta={cell[2]:g} in these settings; "
                       f"accepted: {accepted}")
    return {**result, "cells": kept}
