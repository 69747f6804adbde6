"""`spe figures`: redraw every paper figure from the sweeps kept under figures/data."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..names import META_PLOT_KINDS, PLOT_KINDS
from .app import app
from .options import Force
from .plot import report_drawn


@app.command(help=f"""Redraw every paper figure ({', '.join(PLOT_KINDS)}; PDF and PNG), no training.

Across the sweeps (when they differ in a config key such as attention or dataset):
{', '.join(f'meta-{kind}' for kind in META_PLOT_KINDS)} (moderator on baseline_acc), as spe plot
draws them for several DIRs.

Statistics use the spe stats defaults. The same records give the same bytes in the same
plotting environment, recorded as OUT/plotting-env.json (matplotlib, FreeType, Pillow and
zlib versions), so the figures can be committed and diffed.
""")
def figures(
    data: Annotated[Path, typer.Option(
        help="Folder with one sweep directory per figure set: DATA/<sweep-name>/runs/*.json.")]
        = Path("figures/data"),
    out: Annotated[Path, typer.Option(
        help="Folder for the figures, named <sweep-name>-<kind>.pdf and .png.")] = Path("figures"),
    force: Force = False,
) -> None:
    from ..plots.environment import write_plotting_env
    from ..plots.paper import draw_paper_figures

    for name, drawn in draw_paper_figures(data, out, force).items():
        report_drawn(drawn, name)
    typer.echo(str(write_plotting_env(out)))
