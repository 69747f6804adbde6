"""`spe export`: a sweep directory as one tidy table (csv, jsonl or parquet)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..names import EXPORT_FORMATS
from .app import app
from .options import Force
from .records import read_sweep


@app.command()
def export(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="A sweep directory (the --out of spe sweep).")],
    format: Annotated[str, typer.Option(
        "--format", help=f"Table format: {', '.join(EXPORT_FORMATS)} (parquet needs pyarrow).")] = "csv",
    out: Annotated[Optional[Path], typer.Option(
        help="File to write (default: standard output; parquet needs a file).")] = None,
    history: Annotated[bool, typer.Option(
        "--history", help="One row per run and epoch (the training curves) instead of one row per run.")] = False,
    force: Force = False,
) -> None:
    """Export every run record as one row (config columns, metrics, status, timings).

    Example: spe export sweeps/demo --format parquet --out demo.parquet
    """
    from ..sweep.export import export as export_table
    from ..outputs import check_replace

    if out is not None:
        check_replace(out, force)  # a table carries no mark of spe's, so any existing file needs --force
    text = export_table(read_sweep(directory), format, out, history)
    if text is not None:
        sys.stdout.write(text)
    else:
        print(f"wrote {out}", file=sys.stderr)
