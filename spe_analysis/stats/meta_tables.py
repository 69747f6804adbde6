"""Plain renderings of ``spe meta`` results: display strings, CSV and Markdown.

Two tables: the pooled answer per cell, and each setting's own delta and ``spe stats``
verdict per cell.  Numbers are formatted by the helpers of :mod:`.tables`, so they read
as in ``spe stats``.
"""
from __future__ import annotations

import csv
import io
from typing import Any, Mapping

from .across_settings import METHOD_NAMES, POOLED_CI_NAMES
from .across_settings import pooled_diverged, setting_labels
from .tables import markdown_table, number, p_text, row_label
from .verdicts import CORRECTION_NAMES, diverged_text

COLUMNS = ("cell", "k", "delta", "95% CI", "p adj", "TOST p adj", "tau²", "I²", "Q p", "95% PI",
           "verdict")
CSV_FIELDS = ("pool", "alpha", "beta", "setting", "k", "n", "n_baseline", "delta", "variance",
              "se", "ci_low", "ci_high", "p", "p_adjusted", "tost_p", "tost_p_adjusted", "tau2",
              "i2", "q", "q_p", "pi_low", "pi_high", "verdict", "n_diverged", "n_diverged_baseline",
              "stopped_at_look")
POOLED = "pooled"


def title(result: Mapping[str, Any]) -> str:
    return (f"{result['metric']} across {len(result['settings'])} settings: "
            f"{METHOD_NAMES[result['method_re']]} random effects, {POOLED_CI_NAMES[result['ci']]} "
            f"95% CI, {CORRECTION_NAMES[result['correction']]}, equivalence margin "
            f"±{result['margin']:g}, significance {result['significance']:g}")


def _interval(low: float | None, high: float | None) -> str:
    return "-" if low is None else f"{low:+.2f} to {high:+.2f}"


def columns(result: Mapping[str, Any]) -> tuple[str, ...]:
    """COLUMNS, with 'diverged' after 'k' wherever a run of a cell diverged."""
    if not any(c["n_diverged"] for c in result["cells"]):
        return COLUMNS
    return COLUMNS[:2] + ("diverged",) + COLUMNS[2:]


def display_rows(result: Mapping[str, Any]) -> list[dict[str, str]]:
    """One row per cell, a dict of :func:`columns` -> display string (the pooled numbers)."""
    return [{"cell": row_label(c), "k": str(c["k"]), "diverged": pooled_diverged(c),
             "delta": number(c["delta"], "+.2f"),
             "95% CI": _interval(c["ci_low"], c["ci_high"]), "p adj": p_text(c["p_adjusted"]),
             "TOST p adj": p_text(c["tost_p_adjusted"]), "tau²": number(c["tau2"], ".3f"),
             "I²": "-" if c["i2"] is None else f"{100 * c['i2']:.0f}%", "Q p": p_text(c["q_p"]),
             "95% PI": _interval(c["pi_low"], c["pi_high"]), "verdict": c["verdict"]}
            for c in result["cells"]]


def setting_columns(result: Mapping[str, Any]) -> list[str]:
    return ["cell", *setting_labels(result["settings"]).values()]


def setting_rows(result: Mapping[str, Any]) -> list[dict[str, str]]:
    """One row per cell: each setting's delta and own verdict ('-' where it has no such run)."""
    labels, rows = setting_labels(result["settings"]), []
    for cell in result["cells"]:
        row = {"cell": row_label(cell)}
        for study in cell["studies"]:
            delta = "" if study["delta"] is None else f"{study['delta']:+.2f} "
            diverged = f" ({diverged_text(study)} diverged)" if study["n_diverged"] else ""
            row[labels[study["setting"]]] = "-" if study["verdict"] is None else delta + study["verdict"] + diverged
        rows.append(row)
    return rows


def baselines(result: Mapping[str, Any]) -> str:
    """'Baselines (avg): attention=se 70.12 ± 0.31 (n = 5); ...'."""
    parts, labels = [], setting_labels(result["settings"])
    for s in result["settings"]:
        base = s["baseline"]
        mean = number(base["mean"], ".2f")
        spread = f" ± {base['sd']:.2f}" if base["sd"] is not None else ""
        diverged = f", {base['n_diverged']} diverged" if base["n_diverged"] else ""
        parts.append(f"{labels[s['name']]} {mean}{spread} (n = {base['n']}{diverged})")
    return "Baselines (avg, mean ± sd): " + "; ".join(parts) + "."


def to_markdown(result: Mapping[str, Any]) -> str:
    """Title, the pooled table, the per-setting table, the baselines and the claim."""
    return (f"**{title(result)}**\n\n{markdown_table(columns(result), display_rows(result))}\n\n"
            f"Each setting alone (delta, spe stats verdict):\n\n"
            f"{markdown_table(setting_columns(result), setting_rows(result))}\n\n"
            f"{baselines(result)}\n\n{result['claim']['statement']}\n")


def to_csv(result: Mapping[str, Any]) -> str:
    """Long form: per cell one row per setting, then the pooled row (setting 'pooled')."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for cell in result["cells"]:
        where = {k: cell[k] for k in ("pool", "alpha", "beta")}
        for study in cell["studies"]:
            writer.writerow({**where, **study})
        writer.writerow({**cell, "setting": POOLED})
    return out.getvalue()
