"""`spe report DIR`: the claim, the statistics table and every figure in one Markdown file
(or one self-contained HTML file); with several DIRs (or --group-by), the same across settings."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..names import DEFAULT_CI
from .app import app
from .options import (Correction, Force, GroupBy, Margin, MetaCi, MethodRe, Metric, Significance,
                      SweepDirs, Test, keys)
from .records import warn_unreadable


@app.command()
def report(
    directories: SweepDirs,
    out: Annotated[Optional[Path], typer.Option(
        help="Report file (default: DIR/report.md, or DIR/report.html with --html; across "
             "settings meta-report.md or .html in the DIRs' common folder). The Markdown "
             "report's PNG figures go beside it as STEM-KIND.png.",
        show_default=False)] = None,
    as_html: Annotated[bool, typer.Option(
        "--html", help="Write one self-contained HTML file, figures inlined, instead of "
                       "Markdown.")] = False,
    metric: Metric = "final_test_acc",
    test: Test = "welch",
    correction: Correction = "holm",
    margin: Margin = 0.5,
    significance: Significance = 0.05,
    group_by: GroupBy = None,
    method_re: MethodRe = "pm",
    ci: MetaCi = DEFAULT_CI,
    force: Force = False,
) -> None:
    """Write a sweep's report: the claim, the spe stats table, the figures, the sweep.toml.

    With several DIRs (or --group-by): the claim across settings, the spe meta tables and
    the forest and verdicts figures. The Markdown links its figures by relative paths, so it
    reads well on GitHub.
    """
    from ..plots import Meta
    from ..plots.settings import load_figure_data
    from ..plots.report import write_report

    sweep = load_figure_data(directories, keys(group_by), method_re=method_re, ci=ci, test=test,
                             metric=metric, correction=correction, margin=margin,
                             significance=significance)
    warn_unreadable(sweep.unreadable)
    stem = "meta-report" if isinstance(sweep, Meta) else "report"
    out = out or sweep.path / f"{stem}.{'html' if as_html else 'md'}"
    for path in write_report(sweep, out, as_html=as_html, force=force):
        typer.echo(str(path))
