"""On-disk cache of decoded datasets, so a dataset is decoded once per content, not per run.

A cache entry is one ``torch.save`` file ``<cache>/datasets/<label>-<key>.pt`` holding the
tensors, class names and channel statistics.  The key hashes the cache format and the
dataset's sources: file contents (sha256) for files, and relative paths + sizes + mtimes
for image folders (re-hashing tens of thousands of small files would cost as much as
decoding them).  Entries are written to a temporary name and renamed, so concurrent
loaders see either nothing or a whole file; two cold loaders may both decode, and the
last rename wins with identical content.
"""
from __future__ import annotations

import hashlib
import os
import re
import stat
import warnings
from pathlib import Path
from typing import Callable

import torch

from ..atomic import atomic_write
from ..errors import SpeError
from .imagedata import ImageData

# Bump when the decoded layout changes, so old entries are not reused.
CACHE_FORMAT = "spe.dataset/1"
_FIELDS = ("train_x", "train_y", "test_x", "test_y")


def cache_root() -> Path:
    """``$SPE_CACHE_DIR``, else ``$XDG_CACHE_HOME/spe``, else ``~/.cache/spe``."""
    if os.environ.get("SPE_CACHE_DIR"):
        return Path(os.environ["SPE_CACHE_DIR"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "spe"


def file_digest(path: str | os.PathLike) -> str:
    """sha256 of a source file's content (about 0.1 s per 150 MB)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    except OSError as exc:
        raise SpeError(f"cannot read {path}: {exc.strerror or exc}") from None
    return digest.hexdigest()


def tree_digest(root: str | os.PathLike) -> str:
    """Hash of every file's relative path, size and mtime under ``root``."""
    root = Path(root)
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        try:
            info = path.stat()
        except OSError:  # a dangling link: no content to key on
            continue
        if stat.S_ISREG(info.st_mode):
            digest.update(f"{path.relative_to(root).as_posix()}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def cache_key(*parts: str) -> str:
    return hashlib.sha256("\0".join((CACHE_FORMAT, *parts)).encode()).hexdigest()[:24]


def cached(name: str, label: str, key: str, build: Callable[[], ImageData]) -> ImageData:
    """The dataset stored under ``key``, or ``build()``'s result, stored for next time.

    ``name`` is what the caller asked for (the same content may be asked for under several
    names); ``label`` only makes cache file names readable.
    """
    path = cache_root() / "datasets" / f"{re.sub(r'[^A-Za-z0-9._-]+', '_', label)}-{key}.pt"
    if path.exists():
        try:
            entry = torch.load(path, weights_only=True)
            return ImageData(name=name, **{f: entry[f] for f in _FIELDS}, classes=list(entry["classes"]),
                             mean=tuple(entry["mean"]), std=tuple(entry["std"]))
        except Exception as exc:  # a damaged entry is rebuilt, never fatal
            warnings.warn(f"ignoring unreadable dataset cache {path}: {exc}", stacklevel=2)
    data = build()
    entry = {f: getattr(data, f) for f in _FIELDS}
    entry.update(classes=list(data.classes), mean=list(data.mean), std=list(data.std))
    try:
        atomic_write(path, lambda fh: torch.save(entry, fh))
    except OSError as exc:  # a read-only cache only costs speed
        warnings.warn(f"could not write dataset cache {path}: {exc}", stacklevel=2)
    return data
