"""Which existing files a command may write over.

A sweep's specification and its run records are never replaced by an output (a report, a
table, a figure) unless the user says ``--force``; nor is any other existing file, unless it
is recognisably an earlier output of the same kind (``ours``), which a command redraws in
place as a matter of course.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from .errors import SpeError


def _protected(path: Path) -> str | None:
    """What ``path`` is when it belongs to a sweep (its spec or a run record), else None."""
    from .records import check_record

    if path.name == "sweep.toml":
        return "a sweep's specification"
    if (path.parent.name == "runs" and path.suffix == ".json") or check_record(path)[0] is not None:
        return "a run record"
    return None


def check_replace(path: str | Path, force: bool = False,
                  ours: Callable[[Path], bool] | None = None) -> Path:
    """``path``, when a command may write it: it does not exist, or ``force``, or it is not a
    sweep's own file and ``ours(path)`` says it is an earlier output of this kind.  Else a
    one-line SpeError naming the file and the way out."""
    path = Path(path)
    if force or not path.exists():
        return path
    if path.is_dir():
        raise SpeError(f"{path} is a folder; give a file name")
    what = _protected(path)
    if what is None and ours is not None and ours(path):
        return path
    raise SpeError(f"{path} exists and is {what or 'a file spe did not write'}; not replaced: "
                   "give another --out, or --force to replace it")
