"""What the cross-setting figures, ``spe meta`` and the cross-setting report read: the run
records of several sweep directories (or one, split by ``--group-by``), analysed once by
:func:`spe_analysis.stats.across_settings.meta_analyze`."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ..errors import SpeError
from ..records import Records, Unreadable, load_sweep_records, runs_dir
from ..stats.across_settings import meta_analyze, only_cell
from ..stats.meta import DEFAULT_CI
from ..sweep.sequential import sequential_spec
from .data import Sweep, load_sweep


@dataclass(frozen=True)
class Meta:
    """Several settings: the ``spe.meta/1`` result and the directories it was read from."""

    paths: tuple[Path, ...]
    result: dict[str, Any]
    unreadable: tuple[Unreadable, ...] = ()  # files under runs/ left out, for the reader to name

    @property
    def path(self) -> Path:
        """The folder that holds every directory (the one directory, under --group-by)."""
        try:
            return Path(os.path.commonpath(self.paths))
        except ValueError:  # absolute and relative paths mixed
            return Path(os.path.commonpath([p.resolve() for p in self.paths]))

    @property
    def name(self) -> str:
        return f"{len(self.result['settings'])} settings"

    @property
    def mix_cells(self) -> list[dict[str, Any]]:
        return [c for c in self.result["cells"] if c["pool"] == "mix"]


def read_directories(directories: Sequence[str | Path]) -> Records:
    """The run records of every directory together (SpeError for one without records).

    A run id seen before (one run copied into two directories, e.g. a shared avg baseline)
    counts once.
    """
    records, seen = Records(), set()
    for directory in directories:
        found = load_sweep_records(directory)
        records.extend(r for r in found if r["run_id"] not in seen)
        seen.update(r["run_id"] for r in found)
        records.unreadable.extend(found.unreadable)
    return records


def sequential_designs(directories: Sequence[str | Path], records: Records) -> dict[str, Any]:
    """Run id -> sweep specification, for every run in a group-sequential sweep directory."""
    designs = {}
    for directory in directories:
        spec = sequential_spec(directory)
        if spec is not None:
            ids = {path.stem for path in runs_dir(directory).glob("*.json")}
            designs.update({r["run_id"]: spec for r in records if r["run_id"] in ids})
    return designs


def load_meta(directories: Sequence[str | Path], group_by: Sequence[str] = (),
              cell: tuple[float, float] | None = None, fixed_design: bool = False, **options) -> Meta:
    """Read and analyse the settings of ``directories``; ``options`` go to meta_analyze.

    A group-sequential sweep among them is replayed as spe stats does, unless ``fixed_design``.
    With ``cell`` (alpha, beta) only that mix cell is kept, its numbers as corrected over all.
    """
    records = read_directories(directories)
    designs = {} if fixed_design else sequential_designs(directories, records)
    result = meta_analyze(records, group_by, unreadable=len(records.unreadable), designs=designs, **options)
    if cell is not None:
        result = only_cell(result, ("mix", float(cell[0]), float(cell[1])))
    return Meta(paths=tuple(Path(d) for d in directories), result=result,
                unreadable=tuple(records.unreadable))


def load_figure_data(directories: Sequence[str | Path], group_by: Sequence[str] = (),
                     cell: tuple[float, float] | None = None, method_re: str = "pm",
                     ci: str = DEFAULT_CI, test: str = "welch", moderators: Sequence[str] = (),
                     **options) -> Sweep | Meta:
    """One directory without ``group_by``: its Sweep; otherwise the Meta of its settings.

    ``options`` (metric, correction, margin, significance) go to both; ``test`` only to a
    Sweep, ``method_re``, ``ci``, ``cell`` and ``moderators`` only to a Meta.
    """
    if len(directories) == 1 and not group_by:
        if cell is not None:
            raise SpeError("--cell picks the mix cell of forest and verdicts, which compare "
                           "settings: give several DIRs, or one with --group-by KEY")
        return load_sweep(directories[0], test=test, **options)
    return load_meta(directories, group_by, cell, method_re=method_re, ci=ci,
                     moderators=moderators, **options)
