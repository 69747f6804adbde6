"""`spe plan`: how many seeds per arm a sweep needs to detect a difference or show equivalence."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import SpeError, choose
from ..stats import plan as plan_sweep, sweep_spread
from ..stats.corrections import CORRECTIONS
from .app import app
from ..records import load_sweep_records

DEFAULT_CELLS = 25


def _seeds(n: int | None) -> str:
    return "more than 1,000,000" if n is None else str(n)


@app.command()
def plan(
    directory: Annotated[Optional[Path], typer.Argument(
        metavar="DIR", show_default=False,
        help="An existing sweep to take SD (pooled over its cells) and the number of cells "
             "from.")] = None,
    sd: Annotated[Optional[float], typer.Option(
        help="Seed-to-seed standard deviation of the metric, in accuracy points.",
        show_default=False)] = None,
    delta: Annotated[float, typer.Option(
        help="Difference from avg to detect, in accuracy points.", show_default=False)] = ...,
    cells: Annotated[Optional[int], typer.Option(
        help=f"Cells compared against avg (default: the sweep's, else {DEFAULT_CELLS}).",
        show_default=False)] = None,
    correction: Annotated[str, typer.Option(
        help=f"Correction over the cells: {', '.join(CORRECTIONS)} (planned at its strictest "
             "step).")] = "holm",
    power: Annotated[float, typer.Option(help="Wanted probability of a significant result.")] = 0.8,
    margin: Annotated[Optional[float], typer.Option(
        help="Also plan to show equivalence within this many points (TOST, no true difference).",
        show_default=False)] = None,
    significance: Annotated[float, typer.Option(help="Significance level before correction.")] = 0.05,
    metric: Annotated[str, typer.Option(help="Metric whose SD is taken from DIR.")] = "final_test_acc",
    format: Annotated[str, typer.Option("--format", help="Output: text or json.")] = "text",
) -> None:
    """Seeds per arm (each cell and the avg baseline) for a two-sided Welch test, corrected for
    the number of cells, to detect --delta with --power; with --margin, also for TOST to show
    equivalence. Powers come from the noncentral t."""
    choose("format", format, ("text", "json"))
    source = "given"
    if directory is not None:
        if sd is not None:
            raise SpeError("give either --sd or a sweep DIR to take the SD from, not both")
        sd, sweep_cells = sweep_spread(load_sweep_records(directory), metric)
        if sd is None:
            raise SpeError(f"{directory} has no cell with 2 usable runs of {metric}; "
                           f"give the SD with --sd instead")
        cells = sweep_cells if cells is None else cells
        source = f"pooled over {directory}"
    elif sd is None:
        raise SpeError("give the seed-to-seed SD with --sd, or a sweep DIR to take it from")
    result = plan_sweep(sd, delta, DEFAULT_CELLS if cells is None else cells, correction, power,
                        margin, significance)
    if format == "json":
        print(json.dumps({**result, "sd_source": source}, indent=2, allow_nan=False))
        return
    print(f"Seeds per arm (runs of each cell and of the avg baseline), SD {result['sd']:.3g} "
          f"points ({source}), {result['cells']} cells, {result['correction']}: per-comparison "
          f"level {result['comparison_alpha']:.3g}, power {result['power']:g}")
    print(f"  to detect a {abs(delta):g}-point difference (two-sided Welch): "
          f"{_seeds(result['seeds_to_detect'])}")
    if margin is not None:
        print(f"  to show equivalence within ±{margin:g} points (TOST, no true difference): "
              f"{_seeds(result['seeds_for_equivalence'])}")
