"""`spe meta DIR [DIR ...]`: each cell's difference to avg pooled across settings."""
from __future__ import annotations

import json
from typing import Annotated

import typer

from ..errors import SpeError, choose
from ..names import DEFAULT_CI
from .app import app
from .options import (At, Correction, Diverged, GroupBy, Margin, MetaCi, MethodRe, Metric,
                      Moderators, Significance, SweepDirs, keys)
from .records import warn_unreadable
from .verdict_tables import TABLE_FORMATS, table_console, verdict_table


@app.command()
def meta(
    directories: SweepDirs,
    group_by: GroupBy = None,
    method_re: MethodRe = "pm",
    ci: MetaCi = DEFAULT_CI,
    metric: Metric = "final_test_acc",
    correction: Correction = "holm",
    margin: Margin = 0.5,
    significance: Significance = 0.05,
    diverged: Diverged = "count",
    fixed_design: Annotated[bool, typer.Option(
        "--fixed-design", help="Analyse group-sequential sweeps (spe sweep --until-decided) as fixed "
                               "sweeps instead of replaying their designs (as spe stats --fixed-design; "
                               "for comparison only).")] = False,
    format: Annotated[str, typer.Option(
        "--format", help=f"Output: {', '.join(TABLE_FORMATS)} (json: schema spe.meta/1).")] = "table",
    moderator: Moderators = None,
    at: At = None,
) -> None:
    """Pool each cell's difference to avg across settings (hosts, datasets, ...).

    A setting is one combination of the config keys that differ between the runs besides
    pool/alpha/beta/seed. Per cell and setting, delta = mean(cell) - mean(avg) with variance
    sd²/n of both arms (each with 2 usable runs or more); the settings are combined by a
    random-effects model, the pooled p-values corrected across cells, and the verdict follows
    the rules of spe stats. Each setting's own spe stats verdict is shown beside. A
    group-sequential sweep enters at each cell's stopping look, with its repeated CI.

    With --moderator, a random-effects meta-regression per cell on the moderators follows,
    on the same study variances and --ci as the pooled model (in csv, the regression alone,
    one row per cell and term).
    """
    from ..plots.settings import load_meta
    from ..stats import meta_tables, regression_tables

    choose("format", format, TABLE_FORMATS)
    if at and not moderator:
        raise SpeError("--at predicts the meta-regression on a --moderator; give --moderator KEY")
    data = load_meta(directories, keys(group_by), metric=metric, method_re=method_re, ci=ci,
                     correction=correction, margin=margin, significance=significance,
                     diverged=diverged, fixed_design=fixed_design, moderators=moderator or (),
                     at=at or ())
    warn_unreadable(data.unreadable)
    result = data.result
    regression = "regression" in result
    if format == "json":
        print(json.dumps(result, indent=2, allow_nan=False, ensure_ascii=False))
    elif format == "csv":
        print((regression_tables if regression else meta_tables).to_csv(result), end="")
    elif format == "markdown":
        print(meta_tables.to_markdown(result), end="")
        if regression:
            print("\n" + regression_tables.to_markdown(result), end="")
    else:
        console = table_console()
        console.print(verdict_table(meta_tables.title(result), meta_tables.columns(result),
                                  meta_tables.display_rows(result)))
        console.print(verdict_table("Each setting alone (delta, spe stats verdict)",
                                  meta_tables.setting_columns(result),
                                  meta_tables.setting_rows(result)))
        console.print(meta_tables.baselines(result), highlight=False)
        console.print(result["claim"]["statement"], highlight=False, soft_wrap=True)  # whole, for grep
        if regression:
            console.print(verdict_table(regression_tables.title(result),
                                        regression_tables.columns(result),
                                        regression_tables.display_rows(result)))
            if regression_tables.notes(result):
                console.print(regression_tables.notes(result), highlight=False)
