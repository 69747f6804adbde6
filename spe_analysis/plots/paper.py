"""The paper's figures: every kind, as PDF and PNG, for every sweep kept under figures/data.

Nothing is trained: the figures are redrawn from the committed run records, byte for byte
the same each time, so a changed figure in a diff means changed data or code.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import SpeError
from . import ALL, Drawn, draw, load_sweep
from .data import Sweep

PAPER_FORMATS = ("pdf", "png")


def sweep_dirs(data: str | Path) -> list[Path]:
    """The sweep directories (those with a runs/ folder) directly under ``data``, by name."""
    data = Path(data)
    if not data.is_dir():
        raise SpeError(f"{data} is not a directory; expected a folder with one sweep directory "
                       "per figure set, e.g. figures/data/<sweep-name>/runs/*.json")
    found = sorted(p for p in data.iterdir() if (p / "runs").is_dir())
    if not found:
        raise SpeError(f"no sweep directories in {data}; copy a sweep (its runs/ and sweep.toml) "
                       f"to {data}/<sweep-name>/")
    return found


def draw_paper_figures(data: str | Path, out: str | Path) -> dict[str, Drawn]:
    """Draw every kind the data supports for each sweep under ``data`` into ``out`` as
    ``<sweep-name>-<kind>.pdf`` and ``.png``; returns what was drawn and skipped, by sweep."""
    sweeps: list[Sweep] = [load_sweep(path) for path in sweep_dirs(data)]  # all checked first
    return {sweep.name: draw(sweep, ALL, out, PAPER_FORMATS, prefix=f"{sweep.name}-")
            for sweep in sweeps}
