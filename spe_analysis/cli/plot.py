"""`spe plot DIR`: paper figures of a sweep (heatmap, strip, curves, lambda), or with several
DIRs (or --group-by) the figures across settings (forest, verdicts).

The statistics options pass through to :func:`spe_analysis.stats.analyze` (and to
:func:`spe_analysis.stats.across_settings.meta_analyze`), so the figures show exactly the
numbers and verdicts of `spe stats` (and `spe meta`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..plots import ALL, FORMATS, KINDS, META_KINDS, WIDTHS, draw
from ..plots.settings import load_figure_data
from ..stats.meta import DEFAULT_CI
from .app import app
from .options import (META, Cell, Correction, GroupBy, Margin, MetaCi, MethodRe, Metric,
                      Significance, SweepDirs, Test, cell_pair, keys)
from .records import warn_unreadable

def report_drawn(drawn, sweep_name: str = "") -> None:
    """Print each file written, then each kind skipped with its reason."""
    for path in drawn.written:
        typer.echo(str(path))
    for kind, reason in drawn.skipped.items():
        typer.echo(f"skipped {sweep_name + ' ' if sweep_name else ''}{kind}: {reason}")


@app.command()
def plot(
    directories: SweepDirs,
    kind: Annotated[str, typer.Option(
        help=f"Figure: {', '.join(KINDS)} (one DIR), {', '.join(META_KINDS)} (several DIRs or "
             f"--group-by), or {ALL} (every kind the data supports; the others are skipped "
             "with a note).")] = ALL,
    out: Annotated[Optional[Path], typer.Option(
        help="Folder for the figure files KIND.FORMAT (default: DIR/figures; with several DIRs "
             "their common folder's figures/).",
        show_default=False)] = None,
    format: Annotated[list[str], typer.Option(
        "--format", help=f"File format: {', '.join(FORMATS)}; repeat it or give a comma list "
                         "for several (PDF/SVG vector, PNG 300 dpi).")] = ["png"],
    width: Annotated[Optional[str], typer.Option(
        help=f"Figure width: {' or '.join(f'{k} ({v} in)' for k, v in WIDTHS.items())} column "
             "(default: double for strip, single for the others).", show_default=False)] = None,
    metric: Metric = "final_test_acc",
    test: Test = "welch",
    correction: Correction = "holm",
    margin: Margin = 0.5,
    significance: Significance = 0.05,
    group_by: GroupBy = None,
    cell: Cell = None,
    method_re: MethodRe = "pm",
    ci: MetaCi = DEFAULT_CI,
    moderator: Annotated[Optional[str], typer.Option(
        metavar="KEY", help="moderator: the numeric moderator on the x axis, a config key that "
        "differs between the settings (e.g. epochs) or baseline_acc (the default).",
        show_default=False, rich_help_panel=META)] = None,
) -> None:
    """Draw a sweep's figures in the paper style; the same data gives the same bytes.

    - heatmap: delta vs avg over the alpha x beta grid, stars, ≈ equivalent
    - strip:   every run per cell, 95% CI of delta, coloured by verdict
    - curves:  test accuracy and train loss per epoch, mean and 95% band
    - lambda:  the learned pool's per-block mixing weight over epochs
    - continuum: delta vs avg along the lse temperature, avg to max, other statistics beside

    Several settings (several DIRs, or one with --group-by), as in spe meta:

    - forest:   per mix cell, each setting's delta and 95% CI, the pooled diamond
    - verdicts: settings x cells coloured by delta, a mark per verdict, pooled row last
    - moderator: per mix cell, each setting's delta against a numeric moderator and the
      meta-regression line (spe meta --moderator) with its 95% band
    """
    sweep = load_figure_data(directories, keys(group_by), cell_pair(cell), method_re=method_re,
                             ci=ci, test=test, metric=metric, correction=correction,
                             margin=margin, significance=significance,
                             moderators=[moderator] if moderator else ())
    warn_unreadable(sweep.unreadable)
    formats = [f.strip() for value in format for f in value.split(",")]
    report_drawn(draw(sweep, kind, out or sweep.path / "figures", formats, width))
