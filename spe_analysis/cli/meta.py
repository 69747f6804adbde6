"""`spe meta DIR [DIR ...]`: each cell's difference to avg pooled across settings."""
from __future__ import annotations

import json
from typing import Annotated

import typer

from ..errors import choose
from .app import app
from .options import (Correction, GroupBy, Margin, MetaCi, MethodRe, Metric, Significance,
                      SweepDirs, keys)
from .records import warn_unreadable
from .verdict_tables import TABLE_FORMATS, table_console, verdict_table


@app.command()
def meta(
    directories: SweepDirs,
    group_by: GroupBy = None,
    method_re: MethodRe = "pm",
    ci: MetaCi = "hksj",
    metric: Metric = "final_test_acc",
    correction: Correction = "holm",
    margin: Margin = 0.5,
    significance: Significance = 0.05,
    format: Annotated[str, typer.Option(
        "--format", help=f"Output: {', '.join(TABLE_FORMATS)} (json: schema spe.meta/1).")] = "table",
) -> None:
    """Pool each cell's difference to avg across settings (hosts, datasets, ...).

    A setting is one combination of the config keys that differ between the runs besides
    pool/alpha/beta/seed. Per cell and setting, delta = mean(cell) - mean(avg) with variance
    sd²/n of both arms (each with 2 usable runs or more); the settings are combined by a
    random-effects model, the pooled p-values corrected across cells, and the verdict follows
    the rules of spe stats. Each setting's own spe stats verdict is shown beside.
    """
    from ..plots.settings import load_meta
    from ..stats import meta_tables

    choose("format", format, TABLE_FORMATS)
    data = load_meta(directories, keys(group_by), metric=metric, method_re=method_re, ci=ci,
                     correction=correction, margin=margin, significance=significance)
    warn_unreadable(data.unreadable)
    result = data.result
    if format == "json":
        print(json.dumps(result, indent=2, allow_nan=False, ensure_ascii=False))
    elif format == "csv":
        print(meta_tables.to_csv(result), end="")
    elif format == "markdown":
        print(meta_tables.to_markdown(result), end="")
    else:
        console = table_console()
        console.print(verdict_table(meta_tables.title(result), meta_tables.COLUMNS,
                                  meta_tables.display_rows(result)))
        console.print(verdict_table("Each setting alone (delta, spe stats verdict)",
                                  meta_tables.setting_columns(result),
                                  meta_tables.setting_rows(result)))
        console.print(meta_tables.baselines(result), highlight=False)
        console.print(result["claim"]["statement"], highlight=False)
