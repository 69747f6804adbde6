"""`spe report DIR`: the claim, the statistics table and every figure in one Markdown file
(or one self-contained HTML file)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..plots import load_sweep
from ..report import write_report
from .app import app
from .options import Correction, Margin, Metric, Significance, SweepDir, Test


@app.command()
def report(
    directory: SweepDir,
    out: Annotated[Optional[Path], typer.Option(
        help="Report file (default: DIR/report.md, or DIR/report.html with --html). The "
             "Markdown report's PNG figures go beside it as STEM-KIND.png.",
        show_default=False)] = None,
    as_html: Annotated[bool, typer.Option(
        "--html", help="Write one self-contained HTML file, figures inlined, instead of "
                       "Markdown.")] = False,
    metric: Metric = "final_test_acc",
    test: Test = "welch",
    correction: Correction = "holm",
    margin: Margin = 0.5,
    significance: Significance = 0.05,
) -> None:
    """Write a sweep's report: the claim, the spe stats table, the figures, the sweep.toml.

    The Markdown links its figures by relative paths, so it reads well on GitHub.
    """
    sweep = load_sweep(directory, metric=metric, test=test, correction=correction,
                       margin=margin, significance=significance)
    out = out or directory / ("report.html" if as_html else "report.md")
    for path in write_report(sweep, out, as_html=as_html):
        typer.echo(str(path))
