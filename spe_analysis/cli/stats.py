"""`spe stats DIR`: a verdict per cell against the avg baseline, and an answer to the claim."""
from __future__ import annotations

import json
from typing import Annotated, Any, Optional

import typer

from ..errors import choose
from .app import app
from .options import Correction, Diverged, Margin, Metric, Significance, SweepDir, Test
from .records import read_sweep
from .verdict_tables import TABLE_FORMATS, table_console, verdict_table

def _print_tables(results: list[dict[str, Any]], pairing: bool) -> None:
    from ..stats import tables
    from ..stats.intervals import BCA_MIN_N

    console = table_console()
    for result in results:
        if pairing:
            group = ", ".join(f"{k}={v}" for k, v in result.get("group", {}).items())
            console.print(verdict_table(f"Seed pairing of {result['metric']} {group}".strip(),
                                      tables.PAIRING_COLUMNS, tables.pairing_rows(result)))
            console.print(result["statement"], highlight=False)
        else:
            console.print(verdict_table(tables.title(result), tables.columns(result),
                                      tables.display_rows(result)))
            console.print(f"95% CI of delta: t = Welch t-interval (fewer than {BCA_MIN_N} runs in "
                          f"an arm), bca = BCa bootstrap (fixed seed), rci = repeated CI at the look where a "
                          f"group-sequential cell stopped (at that look's two-sided level, beside the "
                          f"interval TOST decided on at its own level).", style="dim", highlight=False)
            console.print(result["claim"]["statement"], highlight=False, soft_wrap=True)  # whole, for grep
        console.print()


@app.command()
def stats(
    context: typer.Context,
    directory: SweepDir,
    metric: Metric = "final_test_acc",
    test: Test = "welch",
    correction: Correction = "holm",
    margin: Margin = 0.5,
    significance: Significance = 0.05,
    diverged: Diverged = "count",
    format: Annotated[str, typer.Option(
        "--format", help=f"Output: {', '.join(TABLE_FORMATS)} (json as in CONTRACT.md).")] = "table",
    group_by: Annotated[Optional[str], typer.Option(
        help="Config keys (comma list) to analyse apart, for runs that differ in more than "
             "pool/alpha/beta/seed, e.g. 'dataset'.", show_default=False)] = None,
    pairing: Annotated[bool, typer.Option(
        "--seed-correlation", help="Instead of the tests: how correlated runs with the same seed "
                                   "are across cells, to judge whether --test paired pays.")] = False,
    fixed_design: Annotated[bool, typer.Option(
        "--fixed-design", help="On a group-sequential sweep (spe sweep --until-decided), test its runs "
                               "as a fixed-sample sweep instead of replaying its design (wrong for "
                               "seeds that were stopped adaptively; for comparison only).")] = False,
) -> None:
    """Test every cell of a sweep against the avg baseline and answer 'match or exceed'.

    Verdicts: better / worse (corrected p below --significance), equivalent (corrected TOST
    p below it, |delta| < --margin), inconclusive, insufficient (fewer than 2 runs). Only runs
    with status ok and a finite metric count; the others are reported.

    A group-sequential sweep is analysed as it was run: each cell at the look where it stopped,
    against that look's boundary, with the design's alpha and margin (from DIR/sweep.toml).
    """
    from ..stats import analyze, seed_correlation, split_groups, tables
    from ..sweep import sequential

    choose("format", format, TABLE_FORMATS)
    records = read_sweep(directory)
    keys = [k.strip() for k in (group_by or "").split(",") if k.strip()]
    groups = split_groups(records, keys)
    spec = None if fixed_design else sequential.sequential_spec(directory)
    if pairing:
        results = [{**seed_correlation(members, metric), "group": group} for group, members in groups]
    elif spec is not None:
        given = {name: value for name, value in (("margin", margin), ("significance", significance))
                 if context.get_parameter_source(name).name != "DEFAULT"}  # asked for explicitly
        results = [{**sequential.analyze(spec, members, metric, test, len(records.unreadable), diverged, **given),
                    "group": group} for group, members in groups]
    else:
        results = [{**analyze(members, metric=metric, test=test, correction=correction,
                              margin=margin, significance=significance,
                              unreadable=len(records.unreadable), diverged=diverged), "group": group}
                   for group, members in groups]
    if format == "json":
        payload = results if keys else results[0]
        print(json.dumps(payload, indent=2, allow_nan=False, ensure_ascii=False))
    elif format == "csv":
        print((tables.pairing_csv if pairing else tables.to_csv)(results), end="")
    elif format == "markdown":
        print((tables.pairing_markdown if pairing else tables.to_markdown)(results), end="")
    else:
        _print_tables(results, pairing)
