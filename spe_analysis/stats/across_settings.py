"""Several settings in, one random-effects answer per cell out (``spe meta``, ``spe.meta/1``).

A *setting* is one combination of the config keys that differ between the records besides
pool, alpha, beta and seed (or of the ``--group-by`` keys), e.g. ``attention=eca``.  Each
setting is analysed as ``spe stats`` does (its own verdicts; a group-sequential sweep replayed
at each cell's stopping look); then, per cell, its effect ``delta = mean(cell) - mean(avg)``
with the variance of :func:`~spe_analysis.stats.meta.within_variance` (both arms with at least
2 usable runs; a sequential setting's from its repeated CI) is pooled across the settings by
:mod:`.meta`, the pooled p-values are corrected across cells, and the verdict follows the
rules of spe stats, diverged runs included.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from scipy import stats

from ..errors import SpeError, choose
from . import corrections
from .analysis import check_options, compare
from .cells import (BASELINE, Cell, cell_label, cell_of, check_metric, collect, differing_keys, grid_order,
                    split_groups)
from .meta import CI_METHODS, DEFAULT_CI, LEVEL, METHODS_RE, pool, within_variance
from .moderators import design as moderator_design, regression
from .sequential import analyze_sequential
from .verdicts import CORRECTION_NAMES, VERDICTS, count_divergences, diverged_text, verdict

SCHEMA = "spe.meta/1"
POOLED_CORRECTIONS = ("holm", "bh", "by", "none")  # Dunnett needs samples, not pooled p-values
METHOD_NAMES = {"pm": "Paule-Mandel", "dl": "DerSimonian-Laird"}
POOLED_CI_NAMES = {"hksj-floor": "HKSJ t (floor max(1, q), t-based variances)",
            "hksj": "HKSJ t", "normal": "normal"}


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
                       significance: float, diverged: str = "count") -> None:
    choose("--method-re", method_re, METHODS_RE)
    choose("--ci", ci, CI_METHODS)
    choose("correction", correction, POOLED_CORRECTIONS)
    check_options("welch", correction, margin, significance, diverged)


def _study(name: str, row: Mapping[str, Any] | None, base: Mapping[str, Any], ci: str) -> dict[str, Any]:
    """One setting's entry for a cell; delta and variance (the one ``ci`` pools) need 2 usable
    runs in both arms.  A group-sequential setting's row is its replay at the stopping look:
    its variance is the one whose normal 95% interval is the repeated CI, so the pool gets
    the precision the design grants that setting, whatever ``ci``."""
    if row is None:  # this setting has no run of the cell at all
        return {"setting": name, "n": 0, "n_baseline": base["n"], "delta": None,
                "variance": None, "ci_low": None, "ci_high": None, "verdict": None,
                "n_diverged": 0, "n_diverged_baseline": base["n_diverged"], "stopped_at_look": None}
    sequential = "look_seeds" in row
    n_base = row["n_baseline"] if sequential else base["n"]
    ok = row["n"] >= 2 and n_base >= 2 and row["sd"] is not None and row["ci_low"] is not None
    if not ok:
        variance = None
    elif sequential:
        variance = ((row["ci_high"] - row["ci_low"]) / 2 / float(stats.norm.isf((1 - LEVEL) / 2))) ** 2
    else:
        variance = within_variance(row["sd"], row["n"], base["sd"], base["n"], ci)
    return {"setting": name, "n": row["n"], "n_baseline": n_base,
            "delta": row["delta"] if ok else None, "variance": variance,
            "ci_low": row["ci_low"], "ci_high": row["ci_high"], "verdict": row["verdict"],
            "n_diverged": row["n_diverged"], "n_diverged_baseline": base["n_diverged"],
            "stopped_at_look": row.get("stopped_at_look")}


def _analyze_setting(name: str, members: Sequence[Mapping[str, Any]], spec, *, metric: str,
                     correction: str, margin: float, significance: float, diverged: str) -> dict[str, Any]:
    """One setting as ``spe stats`` sees it: a fixed sweep, or the replay of ``spec``'s design."""
    if spec is None:
        values, excluded = collect(members, metric)
        return compare(values.get(BASELINE, {}), values, correction=correction, margin=margin,
                       significance=significance, excluded=excluded, diverged=diverged)
    for option, value in (("margin", margin), ("significance", significance)):
        if value != getattr(spec, option):
            raise SpeError(f"setting '{name}' is a group-sequential sweep with --{option} "
                           f"{getattr(spec, option):g}, which decided when its cells stopped; run spe meta "
                           f"with --{option} {getattr(spec, option):g}, or add --fixed-design")
    return analyze_sequential(members, spec.design(), spec.seeds, spec.cells()[1:], metric,
                              diverged=diverged)


def _design_of(name: str, members: Sequence[Mapping[str, Any]], designs: Mapping[str, Any]):
    """The sequential design that every run of the setting belongs to, or None (a fixed sweep)."""
    specs = {id(designs[r.get("run_id")]): designs[r.get("run_id")] for r in members
             if r.get("run_id") in designs}
    if not specs:
        return None
    if len(specs) > 1 or any(r.get("run_id") not in designs for r in members):
        raise SpeError(f"setting '{name}' mixes runs of a group-sequential sweep with other runs, so "
                       "no one design can be replayed on it; give each design its own setting, or add "
                       "--fixed-design")
    return next(iter(specs.values()))


def pooled_diverged(cell: Mapping[str, Any]) -> str:
    """'1/21': the runs of a cell that diverged, of its usable and diverged runs in every setting."""
    return diverged_text({"n": sum(s["n"] for s in cell["studies"]), "n_diverged": cell["n_diverged"]})


def _claim(settings: list[dict], cells: list[dict], *, method_re: str, ci: str,
           correction: str, margin: float, significance: float, diverged: str) -> dict[str, Any]:
    """Counts of pooled verdicts, whether the claim holds across settings, and in which alone."""
    counts = {v: sum(c["verdict"] == v for c in cells) for v in VERDICTS}
    mix = [c for c in cells if c["pool"] == "mix" and c["verdict"] != "insufficient"]
    good = [c for c in mix if c["verdict"] in ("better", "equivalent")]
    labels = setting_labels(settings)
    holding = [labels[s["name"]] for s in settings if s["holds"]]
    method = (f"{METHOD_NAMES[method_re]} random effects, {POOLED_CI_NAMES[ci]} intervals, "
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
    hit = [f"{cell_label((c['pool'], c['alpha'], c['beta']))} {pooled_diverged(c)}" for c in cells if c["n_diverged"]]
    hit += [f"avg {s['baseline']['n_diverged']} ({labels[s['name']]})" for s in settings if s["baseline"]["n_diverged"]]
    if hit and diverged == "exclude":
        alone += f" Diverged runs left out as missing (--diverged exclude): {', '.join(hit)}."
    elif hit:
        alone += (f" Diverged runs count as outcomes: {', '.join(hit)}; a pooled cell with one is at "
                  f"most inconclusive, and none is equivalent where avg diverged (worse stays; "
                  f"--diverged exclude leaves them out instead).")
    return {**counts, "holds": bool(good), "settings_holding": len(holding),
            "statement": f"{first} {alone}"}


def meta_analyze(records: Sequence[Mapping[str, Any]], group_by: Sequence[str] = (), *,
                 metric: str = "final_test_acc", method_re: str = "pm", ci: str = DEFAULT_CI,
                 correction: str = "holm", margin: float = 0.5, significance: float = 0.05,
                 unreadable: int = 0, diverged: str = "count",
                 designs: Mapping[str, Any] | None = None, moderators: Sequence[str] = (),
                 at: Sequence[str] = ()) -> dict[str, Any]:
    """Run records of several settings in, the ``spe.meta/1`` dictionary out (see the module).

    ``unreadable`` counts the record files that could not be read (they belong to no setting).
    ``designs`` maps the run id of every run of a group-sequential sweep to its sweep
    specification (``design()``, ``seeds``, ``cells()``, ``margin``, ``significance``): such a
    setting is replayed as ``spe stats`` does and enters each cell's pool at its stopping look.
    ``diverged`` as in :func:`~spe_analysis.stats.analysis.compare`, for every setting and
    for the pooled verdicts.  With ``moderators`` the result has a ``regression`` object
    (:mod:`.moderators`) on the studies' variances that ``ci`` pools, with intervals by ``ci``
    and predictions at the ``at`` points ('KEY=VALUE').

    Cells come in grid order; each has one study per setting, in the order of ``settings``
    (``n`` 0 and nulls where the setting has no run of the cell).  Every float is finite or
    None.  SpeError on bad options, no records, one setting, settings that share avg runs
    (SharedBaseline), or settings that share no cell.
    """
    check_meta_options(method_re, ci, correction, margin, significance, diverged)
    groups = settings_of(records, group_by)
    check_independent(groups)
    check_metric(records, metric)
    settings, by_cell = [], {}
    for config, members in groups:
        name = setting_name(config)
        spec = _design_of(name, members, designs or {})
        result = _analyze_setting(name, members, spec, metric=metric, correction=correction,
                                  margin=margin, significance=significance, diverged=diverged)
        base = result["baseline"]
        settings.append({"name": name, "config": config,
                         "baseline": {k: base[k] for k in ("n", "mean", "sd", "n_diverged")},
                         "design": "fixed" if spec is None else "sequential",
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
        studies = [_study(s["name"], *rows.get(s["name"], (None, s["baseline"])), ci)
                   for s in settings]
        usable = [s for s in studies if s["delta"] is not None]
        pooled = pool([s["delta"] for s in usable], [s["variance"] for s in usable],
                      method_re, ci, margin)
        ran = [s for s in studies if s["n"] or s["n_diverged"]]
        cells.append({"pool": cell[0], "alpha": cell[1], "beta": cell[2], "studies": studies,
                      **pooled.to_dict(), "n_diverged": sum(s["n_diverged"] for s in ran),
                      "n_diverged_baseline": sum(s["n_diverged_baseline"] for s in ran)})
    tested = [c for c in cells if c["k"] >= 2]
    for key in ("p", "tost_p"):
        for c, adjusted in zip(tested, corrections.adjust([c[key] for c in tested], correction)):
            c[f"{key}_adjusted"] = float(adjusted)
    for c in cells:
        c.setdefault("p_adjusted", None)
        c.setdefault("tost_p_adjusted", None)
        c["verdict"] = verdict(c["k"] >= 2, c["delta"], c["p_adjusted"], c["tost_p_adjusted"],
                               significance)
        if diverged == "count":
            c["verdict"] = count_divergences(c["verdict"], c["n_diverged"], c["n_diverged_baseline"])
    cells = [_ordered(c) for c in cells]
    result = {"schema": SCHEMA, "metric": metric, "method_re": method_re, "ci": ci,
              "correction": correction, "margin": margin, "significance": significance,
              "ci_level": LEVEL, "diverged": diverged, "test": "welch",
              "group_by": [k for k in groups[0][0]], "settings": settings, "cells": cells,
              "unreadable": unreadable,
              "claim": _claim(settings, cells, method_re=method_re, ci=ci, correction=correction,
                              margin=margin, significance=significance, diverged=diverged)}
    if design is not None:
        result["regression"] = regression(result, design)
    return result


CELL_FIELDS = ("pool", "alpha", "beta", "k", "studies", "delta", "se", "ci_low", "ci_high", "p",
               "p_adjusted", "tost_p", "tost_p_adjusted", "tau2", "i2", "q", "q_p", "pi_low",
               "pi_high", "verdict", "n_diverged", "n_diverged_baseline")


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
