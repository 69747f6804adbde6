"""Typer option declarations shared by the commands that configure training runs
(`spe train`, `spe sweep`), so both spell, default and document them the same way."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..training.config import PRECISIONS, PRESETS
from ..errors import SpeError, finite
from ..names import ATTENTION_NAMES, CORRECTIONS, DATASET_NAMES, DEVICES, MODEL_NAMES, TESTS

RUN = "Run configuration"


def described(choices, notes) -> str:
    """'a (what a is), b, c (...)': each choice with its note where it has one."""
    return ", ".join(f"{name} ({notes[name]})" if name in notes else name for name in choices)


EXEC = "Execution"

Dataset = Annotated[str, typer.Option(
    help=f"Dataset: {', '.join(DATASET_NAMES)}, or imagefolder:PATH (a folder or .tar.gz with "
    "train/<class>/* and test/<class>/*).", rich_help_panel=RUN)]
Model = Annotated[str, typer.Option(help=f"Backbone: {', '.join(MODEL_NAMES)}, or timm:NAME, a timm model with an "
                                   "attention slot, e.g. timm:resnet18 (needs the timm extra).", rich_help_panel=RUN)]
Attention = Annotated[str, typer.Option(help=f"Attention host: {', '.join(ATTENTION_NAMES)}.",
                                        rich_help_panel=RUN)]
Epochs = Annotated[Optional[int], typer.Option(
    help="Training epochs (default: the preset's: 10 for short, 164 for paper).",
    rich_help_panel=RUN)]
Preset = Annotated[Optional[str], typer.Option(
    help=f"Training recipe: {', '.join(PRESETS)} (default: short).", rich_help_panel=RUN)]
TrainSubset = Annotated[Optional[int], typer.Option(
    help="Train on N images, balanced per class, the same N for every run (default: all).",
    rich_help_panel=RUN)]
ValSplit = Annotated[Optional[float], typer.Option(
    help="Hold out this fraction of train for validation; also reports test accuracy at the best "
    "validation epoch.", rich_help_panel=RUN)]
Precision = Annotated[Optional[str], typer.Option(
    help=f"Arithmetic: {', '.join(PRECISIONS)} (auto: bf16 autocast on CUDA and on CPUs with "
    "AVX512-BF16 or AMX, where it is faster; fp32 elsewhere). Part of the run's identity.",
    rich_help_panel=RUN)]
DataDir = Annotated[Optional[Path], typer.Option(
    help="Folder with torchvision dataset files (default: the spe cache folder).", rich_help_panel=EXEC)]
Device = Annotated[str, typer.Option(
    help=f"Device: {', '.join(DEVICES)} (auto: cuda, then mps, then cpu; bf16 autocast on cuda).",
    rich_help_panel=EXEC)]
Deterministic = Annotated[bool, typer.Option(
    help="Use deterministic algorithms only (bit-identical reruns on the same machine).",
    rich_help_panel=EXEC)]

Force = Annotated[bool, typer.Option(
    "--force", help="Write over existing files at the output paths, even ones spe did not write "
    "(a sweep's sweep.toml, a run record, any other file); without it they are refused.")]

# The statistics options of `spe stats`, which `spe plot` and `spe report` pass through so that
# their figures and tables show the same numbers.
STATS = "Statistics (as in spe stats)"
SweepDir = Annotated[Path, typer.Argument(metavar="DIR", show_default=False,
                                          help="Sweep directory; its runs/ holds the run records.")]
Metric = Annotated[str, typer.Option(
    help="Numeric field of the records' metrics to compare (e.g. final_test_acc, "
    "test_acc_at_best_val).", rich_help_panel=STATS)]
Test = Annotated[str, typer.Option(
    help=f"Test of each cell against avg: {', '.join(TESTS)} (paired pairs runs by seed; "
    "permutation is exact for small samples).", rich_help_panel=STATS)]
Correction = Annotated[str, typer.Option(
    help=f"Multiple-comparison correction over the cells: {', '.join(CORRECTIONS)}.",
    rich_help_panel=STATS)]
Margin = Annotated[float, typer.Option(
    help="Equivalence margin in accuracy points: |delta| below it counts as a match (TOST).",
    rich_help_panel=STATS)]
Significance = Annotated[float, typer.Option(help="Significance level of every test.",
                                             rich_help_panel=STATS)]
Diverged = Annotated[str, typer.Option(
    "--diverged", help="Diverged runs: count (an outcome: a cell with one is at most inconclusive, "
    "worse stays; while avg has one no cell is equivalent) or exclude (left out as missing).",
    rich_help_panel=STATS)]

# Several settings at once (`spe meta`, and `spe plot` / `spe report` given several DIRs).
META = "Across settings"
SweepDirs = Annotated[list[Path], typer.Argument(
    metavar="DIR", show_default=False,
    help="Sweep directories; several are compared as settings (the config keys that differ "
         "between them name each one).")]
GroupBy = Annotated[Optional[str], typer.Option(
    help="Config keys (comma list) whose values make the settings, e.g. 'attention' (default: "
         "every key that differs between the runs besides pool/alpha/beta/seed).",
    show_default=False, rich_help_panel=META)]
MethodRe = Annotated[str, typer.Option(
    "--method-re", help="Between-setting variance tau²: pm (Paule-Mandel) or dl "
                        "(DerSimonian-Laird).", rich_help_panel=META)]
Cell = Annotated[Optional[str], typer.Option(
    "--cell", metavar="ALPHA,BETA", help="forest and verdicts: only this mix cell (its numbers "
    "as corrected over every cell).", show_default=False, rich_help_panel=META)]
MetaCi = Annotated[str, typer.Option(
    "--ci", help="Pooled standard error: hksj-floor (HKSJ with the modified Knapp-Hartung floor "
                 "max(1, q) on t-based within-setting variances, t on k-1 df; holds its level with "
                 "few seeds), hksj (plain HKSJ) or normal.", rich_help_panel=META)]


def keys(value: str | None) -> list[str]:
    """The keys of a comma list option such as --group-by; none for an empty or missing one."""
    return [k.strip() for k in (value or "").split(",") if k.strip()]


def cell_pair(value: str | None) -> tuple[float, float] | None:
    """'0.5,1' as (0.5, 1.0); None for a missing --cell."""
    if value is None:
        return None
    parts = value.split(",")
    if len(parts) != 2:
        raise SpeError(f"--cell takes ALPHA,BETA (e.g. 0.5,1), got {value!r}")
    return finite("--cell alpha", parts[0]), finite("--cell beta", parts[1])

# The meta-regression of `spe meta --moderator` (and the moderator figure of `spe plot`).
Moderators = Annotated[Optional[list[str]], typer.Option(
    "--moderator", metavar="KEY", help="Meta-regression per cell on a property of the settings: "
    "a config key that differs between them (numbers as they are, e.g. epochs; text as indicator "
    "columns, e.g. attention) or baseline_acc (the setting's avg mean). Repeat for several.",
    show_default=False, rich_help_panel=META)]
At = Annotated[Optional[list[str]], typer.Option(
    "--at", metavar="KEY=VALUE", help="Predict each cell's delta where the moderator KEY is VALUE "
    "(a number, or a level of a text moderator); repeat for several values and every moderator.",
    show_default=False, rich_help_panel=META)]
