"""The paper's figures: every kind, as PDF and PNG, for every sweep kept under figures/data,
and the figures across settings (forest, verdicts, moderator) of all those sweeps together.

Nothing is trained: the figures are redrawn from the committed run records, byte for byte
the same each time, so a changed figure in a diff means changed data or code.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import SpeError
from ..stats.across_settings import OneSetting, SharedBaseline
from . import ALL, META_KINDS, Drawn, draw, load_sweep
from .data import Sweep
from .settings import load_meta

PAPER_FORMATS = ("pdf", "png")
META = "meta"  # file prefix (meta-<kind>) and name of the figures across settings


def sweep_dirs(data: str | Path) -> list[Path]:
    """The sweep directories directly under ``data`` with at least one record, by name
    (a sweep that has just started, with an empty runs/ folder, has nothing to draw yet)."""
    data = Path(data)
    if not data.is_dir():
        raise SpeError(f"{data} is not a directory; expected a folder with one sweep directory "
                       "per figure set, e.g. figures/data/<sweep-name>/runs/*.json")
    found = sorted(p for p in data.iterdir() if any((p / "runs").glob("*.json")))
    if not found:
        raise SpeError(f"no sweep directories in {data}; copy a sweep (its runs/ and sweep.toml) "
                       f"to {data}/<sweep-name>/")
    return found


def draw_paper_figures(data: str | Path, out: str | Path, force: bool = False) -> dict[str, Drawn]:
    """Draw every kind the data supports for each sweep under ``data`` into ``out`` as
    ``<sweep-name>-<kind>.pdf`` and ``.png``, and the figures across settings (forest, verdicts,
    moderator) of all of them together as ``meta-<kind>`` (skipped when they form one setting or
    share avg runs); returns what was drawn and skipped, by sweep (and ``meta``).  ``force``:
    write over files that are not spe's figures."""
    paths = sweep_dirs(data)
    sweeps: list[Sweep] = [load_sweep(path) for path in paths]  # all checked first
    drawn = {sweep.name: draw(sweep, ALL, out, PAPER_FORMATS, prefix=f"{sweep.name}-", force=force)
             for sweep in sweeps}
    try:
        meta = load_meta(paths)
    except (OneSetting, SharedBaseline) as exc:
        drawn[META] = Drawn(skipped={kind: str(exc) for kind in META_KINDS})
    else:
        drawn[META] = draw(meta, ALL, out, PAPER_FORMATS, prefix=f"{META}-", force=force)
    return drawn
