"""Plain renderings of ``spe stats`` results: display strings, CSV and Markdown.

The Rich table of the command line and the Markdown here share :func:`display_rows`, so a
number reads the same wherever it is shown.  Every function takes a list of results (one
per ``--group-by`` group; a single analysis is a list of one).
"""
from __future__ import annotations

import csv
import io
import math
from typing import Any, Mapping, Sequence

from .cells import cell_label
from .verdicts import CORRECTION_NAMES, TEST_NAMES, diverged_text

COLUMNS = ("cell", "n", "mean", "sd", "delta", "95% CI", "p", "p adj", "TOST p adj", "g",
           "P(sup)", "verdict")
PAIRING_COLUMNS = ("cell", "pairs", "r", "variance ratio")
CSV_FIELDS = ("pool", "alpha", "beta", "n", "mean", "sd", "delta", "ci_low", "ci_high",
              "ci_method", "p_value", "p_adjusted", "tost_p", "tost_p_adjusted", "hedges_g",
              "prob_superiority", "verdict", "n_excluded", "n_diverged")
PAIRING_FIELDS = ("pool", "alpha", "beta", "n_pairs", "r", "variance_ratio")


def number(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def p_text(value: float | None) -> str:
    return "-" if value is None else "<0.001" if value < 0.001 else f"{value:.3f}"


def row_label(row: Mapping[str, Any]) -> str:
    return cell_label((row["pool"], row.get("alpha"), row.get("beta")))


def title(result: Mapping[str, Any]) -> str:
    group = ", ".join(f"{k}={v}" for k, v in result.get("group", {}).items())
    return (f"{result['metric']}{f' ({group})' if group else ''}: {TEST_NAMES[result['test']]}, "
            f"{CORRECTION_NAMES[result['correction']]}, equivalence margin ±{result['margin']:g}, "
            f"significance {result['significance']:g}")


def level_text(level: float) -> str:
    """A confidence level as a percentage with the digits that tell it from 100%: 0.99955 as
    '99.955%', 0.95 as '95%'."""
    digits = max(0, math.ceil(-math.log10(max(1.0 - level, 1e-12))) - 1)
    text = f"{100 * level:.{digits}f}"
    return (text.rstrip("0").rstrip(".") if "." in text else text) + "%"


def columns(results: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> tuple[str, ...]:
    """COLUMNS, with 'diverged' (k/n runs per cell) after 'n' wherever a run diverged."""
    results = [results] if isinstance(results, Mapping) else results
    rows = [row for r in results for row in (r["baseline"], *r["cells"])]
    if not any(row.get("n_diverged") for row in rows):
        return COLUMNS
    return COLUMNS[:2] + ("diverged",) + COLUMNS[2:]


def _interval(cell: Mapping[str, Any]) -> str:
    """'-0.54 to +0.27 (t)'; a repeated CI also gives the interval TOST used, and both levels."""
    if cell["ci_low"] is None:
        return "-"
    if cell.get("equivalence_ci_low") is None:
        return f"{cell['ci_low']:+.2f} to {cell['ci_high']:+.2f} ({cell['ci_method']})"
    return (f"{cell['ci_low']:+.2f} to {cell['ci_high']:+.2f} (rci {level_text(cell['ci_level'])}; "
            f"TOST {cell['equivalence_ci_low']:+.2f} to {cell['equivalence_ci_high']:+.2f}, "
            f"{level_text(cell['equivalence_ci_level'])})")


def display_rows(result: Mapping[str, Any]) -> list[dict[str, str]]:
    """Baseline then cells, each a dict of :func:`columns` -> display string."""
    base = result["baseline"]
    rows = [{"cell": "avg (baseline)", "n": str(base["n"]), "diverged": diverged_text(base),
             "mean": number(base["mean"], ".2f"), "sd": number(base["sd"], ".2f"), "verdict": "baseline"}]
    for cell in result["cells"]:
        rows.append({"cell": row_label(cell), "n": str(cell["n"]), "diverged": diverged_text(cell),
                     "mean": number(cell["mean"], ".2f"),
                     "sd": number(cell["sd"], ".2f"), "delta": number(cell["delta"], "+.2f"),
                     "95% CI": _interval(cell), "p": p_text(cell["p_value"]), "p adj": p_text(cell["p_adjusted"]),
                     "TOST p adj": p_text(cell["tost_p_adjusted"]), "g": number(cell["hedges_g"], "+.2f"),
                     "P(sup)": number(cell["prob_superiority"], ".2f"), "verdict": cell["verdict"]})
    return [{c: row.get(c, "") for c in columns(result)} for row in rows]


def pairing_rows(result: Mapping[str, Any]) -> list[dict[str, str]]:
    return [{"cell": row_label(c), "pairs": str(c["n_pairs"]), "r": number(c["r"], "+.2f"),
             "variance ratio": number(c["variance_ratio"], ".2f")} for c in result["cells"]]


def markdown_table(columns: Sequence[str], rows: Sequence[Mapping[str, str]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(row[c] or " " for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def to_markdown(results: Sequence[Mapping[str, Any]]) -> str:
    """One section per result: a title line, the table (baseline on top), the claim statement."""
    return "\n\n".join(f"**{title(r)}**\n\n{markdown_table(columns(r), display_rows(r))}\n\n"
                       f"{r['claim']['statement']}" for r in results) + "\n"


def pairing_markdown(results: Sequence[Mapping[str, Any]]) -> str:
    return "\n\n".join(f"**Seed pairing of {r['metric']}**\n\n"
                       f"{markdown_table(PAIRING_COLUMNS, pairing_rows(r))}\n\n{r['statement']}"
                       for r in results) + "\n"


def _csv(results: Sequence[Mapping[str, Any]], rows_of, fields: Sequence[str]) -> str:
    groups = list(dict.fromkeys(k for r in results for k in r.get("group", {})))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[*groups, *fields], extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    for result in results:
        for row in rows_of(result):
            writer.writerow({**result.get("group", {}), **row})
    return out.getvalue()


def to_csv(results: Sequence[Mapping[str, Any]]) -> str:
    """One row per cell with the raw numbers, the baseline first (verdict 'baseline')."""
    return _csv(results, lambda r: [{**r["baseline"], "verdict": "baseline"}, *r["cells"]],
                CSV_FIELDS)


def pairing_csv(results: Sequence[Mapping[str, Any]]) -> str:
    return _csv(results, lambda r: r["cells"], PAIRING_FIELDS)
