"""`spe plan`: how many seeds per arm a sweep needs to detect a difference or show equivalence."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import SpeError, choose
from ..names import CORRECTIONS, SPENDING
from .app import app
from .records import read_sweep

DEFAULT_CELLS = 25
SEQUENTIAL = "Group-sequential design (as spe sweep --until-decided)"


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
    looks: Annotated[Optional[str], typer.Option(
        help="Plan a group-sequential sweep with looks at these seeds per arm (e.g. 3,5,8,12), or a "
             "count with --max-seeds: boundaries, and by simulation power and expected runs against "
             "the fixed design with the same maximum.", show_default=False,
        rich_help_panel=SEQUENTIAL)] = None,
    max_seeds: Annotated[Optional[int], typer.Option(
        help="Seeds per arm at the last look, with --looks K.", show_default=False,
        rich_help_panel=SEQUENTIAL)] = None,
    spending: Annotated[str, typer.Option(
        help=f"Alpha spending: {', '.join(SPENDING)} (see spe sweep --help).",
        rich_help_panel=SEQUENTIAL)] = "obf",
) -> None:
    """Seeds per arm (each cell and the avg baseline) for a two-sided Welch test, corrected for
    the number of cells, to detect --delta with --power; with --margin, also for TOST to show
    equivalence. Powers come from the noncentral t."""
    from ..stats import plan as plan_sweep, sweep_spread
    from ..stats.sequential import parse_looks

    choose("format", format, ("text", "json"))
    source = "given"
    if directory is not None:
        if sd is not None:
            raise SpeError("give either --sd or a sweep DIR to take the SD from, not both")
        sd, sweep_cells = sweep_spread(read_sweep(directory), metric)
        if sd is None:
            raise SpeError(f"{directory} has no cell with 2 usable runs of {metric}; "
                           f"give the SD with --sd instead")
        cells = sweep_cells if cells is None else cells
        source = f"pooled over {directory}"
    elif sd is None:
        raise SpeError("give the seed-to-seed SD with --sd, or a sweep DIR to take it from")
    if looks is not None:
        _plan_sequential(parse_looks(looks, max_seeds), spending, sd, delta,
                         DEFAULT_CELLS if cells is None else cells, margin, significance, format, source)
        return
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


def _plan_sequential(looks: list[int], spending: str, sd: float, delta: float, cells: int,
                     margin: float | None, significance: float, format: str, source: str) -> None:
    from ..stats.sequential import plan_sequential

    result = plan_sequential(looks, spending, sd, delta, cells, 0.5 if margin is None else margin,
                             significance)
    if format == "json":
        print(json.dumps({**result, "sd_source": source}, indent=2, allow_nan=False))
        return
    print(f"Group-sequential design: looks at {', '.join(map(str, looks))} seeds per arm, "
          f"{spending} spending, two-sided alpha {significance:g} over {cells} cells (Bonferroni: "
          f"{result['alpha_per_cell']:.3g} each), equivalence margin ±{result['margin']:g}, "
          f"SD {sd:.3g} points ({source})")
    print("  look  seeds     t  |z| boundary  nominal p  equivalence z  nominal p")
    for k, n in enumerate(looks):
        print(f"  {k + 1:>4}  {n:>5}  {result['information_fractions'][k]:>4.2f}  "
              f"{result['boundaries'][k]:>12.3f}  {result['nominal_p'][k]:>9.2g}  "
              f"{result['equivalence_boundaries'][k]:>13.3f}  {result['equivalence_nominal_p'][k]:>9.2g}")
    simulation = result["simulation"]
    print(f"Simulated {simulation['repetitions']} sweeps (seed {simulation['seed']}; Monte Carlo SE of "
          f"a rate at most {simulation['monte_carlo_se']:.2g}), against the fixed design of {looks[-1]} "
          f"seeds per arm:")
    for name, what in (("difference", f"every cell {delta:+g} points from avg, power to declare it"),
                       ("no_difference", "every cell equal to avg, power to declare equivalence")):
        seq, fixed = simulation[name]["sequential"], simulation[name]["fixed"]
        print(f"  {what}: sequential {seq['power']:.3f} in {seq['expected_runs']:.1f} runs on average; "
              f"fixed {fixed['power']:.3f} in {fixed['expected_runs']:.0f} runs "
              f"({simulation[name]['saving']:.0%} fewer runs)")
