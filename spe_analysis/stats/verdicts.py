"""The verdict of each cell and the answer to the paper's claim (rules of CONTRACT.md).

A cell is ``insufficient`` when it or the baseline has fewer than 2 runs (for the paired
test: fewer than 2 seeds present in both); ``better`` / ``worse`` when its corrected
p-value is below the significance level and delta is positive / negative; else
``equivalent`` when its corrected TOST p-value is below the level; else ``inconclusive``.
The claim holds when at least one ``mix`` cell is better or equivalent.

Diverged runs (the loss became non-finite) are outcomes of the method, not missing data, so
leaving them out must never make a cell look good (:func:`count_divergences`): a cell with a
diverged run is at most ``inconclusive`` (``worse`` stays), and while the baseline has one no
cell is ``equivalent``; ``--diverged exclude`` only leaves them out, as missing runs.
"""
from __future__ import annotations

from statistics import median
from typing import Any, Mapping, Sequence

from .cells import cell_label
from .planning import comparison_alpha, seeds_to_resolve

VERDICTS = ("better", "equivalent", "worse", "inconclusive", "insufficient")
from ..names import DIVERGED  # --diverged: count them against the cell, or leave them out
TEST_NAMES = {"welch": "Welch t test", "paired": "paired t test (by seed)",
              "mannwhitney": "Mann-Whitney U test", "permutation": "permutation test"}
CORRECTION_NAMES = {"holm": "Holm-corrected", "bh": "Benjamini-Hochberg-corrected",
                    "by": "Benjamini-Yekutieli-corrected", "dunnett": "Dunnett-corrected",
                    "none": "uncorrected", "bonferroni": "Bonferroni-split (group-sequential)"}
CI_NAMES = {"t": "Welch t-interval", "bca": "BCa bootstrap",
            "rci": "repeated CI at the stopping look, simultaneous over looks and cells"}


def verdict(sufficient: bool, delta: float | None, p_adjusted: float | None,
            tost_p_adjusted: float | None, significance: float) -> str:
    if not sufficient:
        return "insufficient"
    if p_adjusted < significance and delta != 0:
        return "better" if delta > 0 else "worse"
    if tost_p_adjusted < significance:
        return "equivalent"
    return "inconclusive"


def count_divergences(verdict: str, cell_diverged: int, baseline_diverged: int) -> str:
    """The verdict once diverged runs count: ``better`` needs no diverged run in the cell (its
    survivors would flatter it), ``equivalent`` none in either arm (the arms already differ)."""
    if verdict == "better" and cell_diverged or verdict == "equivalent" and (cell_diverged or baseline_diverged):
        return "inconclusive"
    return verdict


def diverged_text(row: Mapping[str, Any]) -> str:
    """'1/5': the runs of a cell (or study) that diverged, of its usable and diverged runs
    (failed runs are the machinery's, not outcomes of the method)."""
    return f"{row['n_diverged']}/{row['n'] + row['n_diverged']}"


def _divergences(baseline: Mapping[str, Any], cells: Sequence[Mapping[str, Any]], diverged: str) -> str:
    """The sentence that names every cell with diverged runs and what they did to its verdict."""
    hit = [row for row in cells if row.get("n_diverged")]
    base = baseline.get("n_diverged", 0)
    if not hit and not base:
        return ""
    names = ([f"avg {diverged_text(baseline)}"] if base else []) + [
        f"{cell_label(_cell(row))} {diverged_text(row)}" for row in hit]
    if diverged == "exclude":
        return (f"Runs that diverged (left out as missing, --diverged exclude): {', '.join(names)}.")
    rule = ("a cell with a diverged run is at most inconclusive, and while avg has one no cell is "
            "equivalent" if base else "a cell with a diverged run is at most inconclusive")
    return (f"Runs that diverged: {', '.join(names)}; a divergence is an outcome of the pooling, "
            f"not missing data, so {rule} (worse stays; --diverged exclude leaves them out instead).")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _cell(row: Mapping[str, Any]) -> tuple:
    return (row["pool"], row.get("alpha"), row.get("beta"))


def claim(baseline: Mapping[str, Any], cells: Sequence[Mapping[str, Any]], *, test: str,
          correction: str, margin: float, significance: float, sd: float | None,
          power: float = 0.8, excluded: Mapping[str, int] | None = None,
          diverged: str = "count") -> dict[str, Any]:
    """Counts per verdict, whether the claim holds, and a plain-language statement of it."""
    counts = {v: sum(row["verdict"] == v for row in cells) for v in VERDICTS}
    mix = [row for row in cells if row["pool"] == "mix"]
    good = [row for row in mix if row["verdict"] in ("better", "equivalent")]
    method = f"{TEST_NAMES[test]}, {CORRECTION_NAMES[correction]}, significance {significance:g}"
    tested = [row for row in cells if row["verdict"] != "insufficient"]
    sentences = []
    if baseline["n"] < 2:
        sentences.append(f"The claim cannot be checked: the avg baseline has "
                         f"{_plural(baseline['n'], 'usable run')}; at least 2 are needed.")
    elif not mix:
        sentences.append("The claim cannot be checked: these runs hold no mix cell.")
    elif good:
        better = sum(row["verdict"] == "better" for row in good)
        sentences.append(f"The claim holds: {len(good)} of {len(mix)} mix cells match or exceed "
                         f"avg pooling ({better} better, {len(good) - better} equivalent within "
                         f"±{margin:g} points; {method}).")
    else:
        sentences.append(f"The claim is not supported: none of the {len(mix)} mix cells is "
                         f"better than or equivalent to avg pooling within ±{margin:g} points "
                         f"({method}).")
    best = max((row for row in mix if row["verdict"] != "insufficient"),
               key=lambda row: row["delta"], default=None)
    if best is not None:
        sentences.append(f"Best mix cell: {cell_label(_cell(best))}, {best['delta']:+.2f} points "
                         f"over avg's {baseline['mean']:.2f} (95% CI {best['ci_low']:+.2f} to "
                         f"{best['ci_high']:+.2f}, {CI_NAMES[best['ci_method']]}), {best['verdict']}.")
    seeds = None
    open_cells = [row for row in cells if row["verdict"] == "inconclusive"]
    if open_cells and sd:
        gap = median(abs(row["delta"]) for row in open_cells)
        alpha = comparison_alpha(significance, len(tested), correction)
        seeds = seeds_to_resolve(sd, gap, margin, alpha, power)
        need = f"about {seeds}" if seeds is not None else "more than a million"
        sentences.append(f"{_plural(len(open_cells), 'cell')} inconclusive: {need} seeds per cell "
                         f"would be needed to resolve a {gap:.2f}-point difference (to detect it "
                         f"or show equivalence; SD {sd:.2f}, power {power:g}).")
    if counts["insufficient"] and baseline["n"] >= 2:
        sentences.append(f"{_plural(counts['insufficient'], 'cell')} with fewer than 2 usable "
                         f"runs could not be tested.")
    excluded = dict(excluded or {})
    unreadable = excluded.pop("unreadable", 0)  # files, not runs: they name no cell
    left_out = sum(excluded.values())
    if left_out:
        parts = ", ".join(f"{count} {reason.replace('non_finite', 'without a finite metric')}"
                          for reason, count in excluded.items() if count)
        sentences.append(f"{_plural(left_out, 'run')} left out ({parts}).")
    if divergences := _divergences(baseline, cells, diverged):
        sentences.append(divergences)
    if unreadable:
        sentences.append(f"{_plural(unreadable, 'record file')} could not be read and "
                         f"{'was' if unreadable == 1 else 'were'} left out.")
    return {**counts, "holds": bool(good), "statement": " ".join(sentences),
            "best_cell": None if best is None else {k: best[k] for k in ("pool", "alpha", "beta")},
            "seeds_needed": seeds}
