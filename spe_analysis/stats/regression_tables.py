"""Plain renderings of the ``regression`` object of ``spe meta --moderator``: display rows,
Markdown and CSV, with the number helpers of :mod:`.tables` so values read as in spe meta.

One row per cell: each coefficient with its 95% CI, the omnibus test of the moderators, the
residual tau^2 and I^2, R^2 and the predictions at the ``--at`` points.  The CSV is long:
one row per cell and term (each coefficient, then each prediction, named ``at KEY=VALUE``).
"""
from __future__ import annotations

import csv
import io
from typing import Any, Mapping

from .across_settings import METHOD_NAMES
from .tables import markdown_table, number, p_text, row_label

REGRESSION_CI_NAMES = {"hksj-floor": "modified Knapp-Hartung (factor floored at 1) t",
            "hksj": "Knapp-Hartung t", "normal": "normal"}
CSV_FIELDS = ("pool", "alpha", "beta", "k", "df", "term", "estimate", "se", "ci_low", "ci_high",
              "p", "tau2", "i2", "r2", "qm", "qm_df1", "qm_df2", "qm_p", "qe", "qe_p", "note")


def at_label(point: Mapping[str, Any]) -> str:
    return "at " + ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                             for k, v in point.items())


def title(result: Mapping[str, Any]) -> str:
    reg = result["regression"]
    test = "F" if reg["ci"] != "normal" else "chi²"
    return (f"Meta-regression of {result['metric']} on {', '.join(reg['moderators'])}: "
            f"{METHOD_NAMES[reg['method_re']]} residual tau², {REGRESSION_CI_NAMES[reg['ci']]} 95% CI, "
            f"moderators tested together (QM, {test})")


def columns(result: Mapping[str, Any]) -> list[str]:
    reg = result["regression"]
    return ["cell", "k", *reg["columns"], "QM p", "tau² resid", "I² resid", "R²",
            *(f"Δ {at_label(point)}" for point in reg["at"])]


def _estimate(value: float | None, low: float | None, high: float | None) -> str:
    return "-" if value is None else f"{value:+.3f} ({low:+.3f} to {high:+.3f})"


def display_rows(result: Mapping[str, Any]) -> list[dict[str, str]]:
    """One row per cell, a dict of :func:`columns` -> display string ('-' where not fitted)."""
    reg, rows = result["regression"], []
    for cell in reg["cells"]:
        row = {"cell": row_label(cell), "k": str(cell["k"]), "QM p": p_text(cell["qm_p"]),
               "tau² resid": number(cell["tau2"], ".3f"),
               "I² resid": "-" if cell["i2"] is None else f"{100 * cell['i2']:.0f}%",
               "R²": "-" if cell["r2"] is None else f"{100 * cell['r2']:.0f}%"}
        coefficients = {c["name"]: c for c in cell["coefficients"]}
        for name in reg["columns"]:
            c = coefficients.get(name, {})
            row[name] = _estimate(c.get("estimate"), c.get("ci_low"), c.get("ci_high"))
        predictions = {at_label(p["at"]): p for p in cell["predictions"]}
        for point in reg["at"]:
            p = predictions.get(at_label(point), {})
            row[f"Δ {at_label(point)}"] = _estimate(p.get("delta"), p.get("ci_low"), p.get("ci_high"))
        rows.append(row)
    return rows


def notes(result: Mapping[str, Any]) -> str:
    """'Not fitted: max (2 estimates for 2 coefficients: need at least 3).' or ''."""
    skipped = [f"{row_label(c)} ({c['note']})" for c in result["regression"]["cells"] if c["note"]]
    return f"Not fitted: {'; '.join(skipped)}." if skipped else ""


def to_markdown(result: Mapping[str, Any]) -> str:
    note = notes(result)
    return (f"**{title(result)}**\n\n{markdown_table(columns(result), display_rows(result))}\n"
            + (f"\n{note}\n" if note else ""))


def to_csv(result: Mapping[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for cell in result["regression"]["cells"]:
        terms = [{**c, "term": c["name"]} for c in cell["coefficients"]]
        terms += [{**p, "term": at_label(p["at"]), "estimate": p["delta"]} for p in cell["predictions"]]
        for term in terms or [{}]:
            writer.writerow({**cell, **term})
    return out.getvalue()
