"""`spe figures`: redraw every paper figure from the sweeps kept under figures/data."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..plots.environment import write_plotting_env
from ..plots.paper import draw_paper_figures
from .app import app
from .plot import report_drawn


@app.command()
def figures(
    data: Annotated[Path, typer.Option(
        help="Folder with one sweep directory per figure set: DATA/<sweep-name>/runs/*.json.")]
        = Path("figures/data"),
    out: Annotated[Path, typer.Option(
        help="Folder for the figures, named <sweep-name>-<kind>.pdf and .png.")] = Path("figures"),
) -> None:
    """Redraw every paper figure (heatmap, strip, curves, lambda; PDF and PNG), no training.

    Across the sweeps (when they differ in a config key such as attention or dataset):
    meta-forest, meta-verdicts and meta-moderator (on baseline_acc), as spe plot draws them for
    several DIRs.

    Statistics use the spe stats defaults. The same records give the same bytes in the same
    plotting environment, recorded as OUT/plotting-env.json (matplotlib, FreeType, Pillow and
    zlib versions), so the figures can be committed and diffed.
    """
    for name, drawn in draw_paper_figures(data, out).items():
        report_drawn(drawn, name)
    typer.echo(str(write_plotting_env(out)))
