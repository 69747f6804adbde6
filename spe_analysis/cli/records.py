"""Reading a sweep directory on the command line: its records, and one line on stderr for
each file under runs/ that could not be read (the analysis goes on without it)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterable

from ..records import Records, Unreadable, load_sweep_records


def warn_unreadable(unreadable: Iterable[Unreadable]) -> None:
    for item in unreadable:
        print(f"spe: warning: left out {item.path}: {item.reason}", file=sys.stderr)


def read_sweep(directory: str | Path) -> Records:
    """:func:`~spe_analysis.records.load_sweep_records`, naming its unreadable files on stderr."""
    records = load_sweep_records(directory)
    warn_unreadable(records.unreadable)
    return records
