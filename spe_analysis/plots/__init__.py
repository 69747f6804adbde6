"""Paper figures of a sweep: one module per kind, drawn through :func:`draw`.

Each kind module has ``WIDTH`` (its default column width), ``CAPTION`` (what it shows, for a
report), ``unsupported(sweep)`` (why the data cannot give this figure, or None) and
``plot(sweep, width)`` (a matplotlib Figure).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from .. import names
from ..errors import SpeError, choose
from ..outputs import check_replace
from . import continuum, curves, dynamics, forest, heatmap, lam, moderator, strip, verdicts
from .data import Sweep, load_sweep
from .settings import Meta, load_meta
from .style import FORMATS, WIDTHS, check_format, is_spe_figure, paper_style, save

KINDS = {"heatmap": heatmap, "strip": strip, "curves": curves, "lambda": lam,
         "dynamics": dynamics, "continuum": continuum}
META_KINDS = {"forest": forest, "verdicts": verdicts,  # several settings (a Meta), not one sweep
              "moderator": moderator}
ALL = names.ALL_KINDS
names.registered("figure kind", names.PLOT_KINDS, KINDS)
names.registered("figure kind", names.META_PLOT_KINDS, META_KINDS)

__all__ = ["KINDS", "META_KINDS", "ALL", "FORMATS", "WIDTHS", "Drawn", "Sweep", "Meta", "draw",
           "load_sweep", "load_meta"]


@dataclass
class Drawn:
    """What :func:`draw` wrote, and the kinds it skipped with the reason."""

    files: dict[str, list[Path]] = field(default_factory=dict)  # kind -> one file per format
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def written(self) -> list[Path]:
        return [path for paths in self.files.values() for path in paths]


def draw(sweep: Sweep | Meta, kind: str, out_dir: str | Path, formats: Iterable[str] = ("png",),
         width: str | None = None, prefix: str = "", force: bool = False) -> Drawn:
    """Draw ``kind`` (or every kind, for 'all') into ``out_dir/<prefix><kind>.<format>``.

    A Sweep has the KINDS, a Meta (several settings) the META_KINDS.  Under 'all' a kind the
    data cannot support is skipped and reported; asked for alone it raises SpeError.
    ``width`` is 'single' or 'double'; None takes each kind's own default.  An existing file
    that is not a figure spe drew is refused before anything is drawn, unless ``force``.
    """
    kinds, others = (META_KINDS, KINDS) if isinstance(sweep, Meta) else (KINDS, META_KINDS)
    if kind in others:
        raise SpeError(f"--kind {kind} draws " + (
            "one sweep: give one DIR without --group-by" if others is KINDS else
            "several settings: give several DIRs, or one with --group-by KEY"))
    choose("kind", kind, [*kinds, ALL])
    formats = [check_format(f) for f in formats]
    if width is not None:
        choose("width", width, WIDTHS)
    drawn = Drawn()
    todo = []
    for name in kinds if kind == ALL else [kind]:
        reason = kinds[name].unsupported(sweep)
        if reason:
            if kind != ALL:
                raise SpeError(f"cannot draw {name} for {sweep.path}: {reason}")
            drawn.skipped[name] = reason
        else:
            todo.append(name)
    paths = {name: [check_replace(Path(out_dir) / f"{prefix}{name}.{fmt}", force, is_spe_figure)
                    for fmt in formats] for name in todo}
    for name, targets in paths.items():
        with paper_style():
            fig = kinds[name].plot(sweep, width or kinds[name].WIDTH)
            drawn.files[name] = [save(fig, path, fmt) for path, fmt in zip(targets, formats)]
    return drawn
