"""`spe figures`: redraw every paper figure from the sweeps kept under figures/data."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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

    Statistics use the spe stats defaults. The same records give the same bytes,
    so the figures can be committed and diffed.
    """
    for name, drawn in draw_paper_figures(data, out).items():
        report_drawn(drawn, name)
