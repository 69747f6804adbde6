"""Typer option declarations shared by the commands that configure training runs
(`spe train`, `spe sweep`), so both spell, default and document them the same way."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..attention import ATTENTION_NAMES
from ..config import PRECISIONS, PRESETS
from ..data import DATASET_NAMES
from ..models import MODEL_NAMES
from ..stats.corrections import CORRECTIONS
from ..stats.hypothesis import TESTS
from ..training import DEVICES

RUN = "Run configuration"
EXEC = "Execution"

Dataset = Annotated[str, typer.Option(
    help=f"Dataset: {', '.join(DATASET_NAMES)}, or imagefolder:PATH (a folder or .tar.gz with "
    "train/<class>/* and test/<class>/*).", rich_help_panel=RUN)]
Model = Annotated[str, typer.Option(help=f"Backbone: {', '.join(MODEL_NAMES)}.", rich_help_panel=RUN)]
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
    help=f"Arithmetic: {', '.join(PRECISIONS)} (auto: bf16 autocast on CUDA, fp32 elsewhere; bf16 "
    "on a CPU with AMX/AVX512-BF16 is about 1.7x faster). Part of the run's identity.",
    rich_help_panel=RUN)]
DataDir = Annotated[Optional[Path], typer.Option(
    help="Folder with torchvision dataset files (default: the spe cache folder).", rich_help_panel=EXEC)]
Device = Annotated[str, typer.Option(
    help=f"Device: {', '.join(DEVICES)} (auto: cuda, then mps, then cpu; bf16 autocast on cuda).",
    rich_help_panel=EXEC)]
Deterministic = Annotated[bool, typer.Option(
    help="Use deterministic algorithms only (bit-identical reruns on the same machine).",
    rich_help_panel=EXEC)]

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
