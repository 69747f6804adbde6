"""CIFAR-10/100, MNIST, Fashion-MNIST and SVHN: files fetched by torchvision, decoded once.

Files are looked for first; only when they are missing is a torchvision download tried, with
a socket timeout so that a machine without network fails in seconds with one line that
says which files to put where.  When no data directory is given, the Debian package
``dataset-fashion-mnist`` (files in /usr/share/datasets/fashion-mnist/) is used too.
"""
from __future__ import annotations

import contextlib
import gzip
import socket
import struct
import sys
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import SpeError
from .cache import cache_key, cache_root, cached, file_digest
from .imagedata import ImageData, make_image_data

DOWNLOAD_TIMEOUT_S = 20.0  # per blocking socket operation, not for the whole download
SYSTEM_DATASETS = Path("/usr/share/datasets")  # Debian's dataset-* packages


class _Source:
    """One torchvision dataset: the files it reads (named here, not taken from torchvision's
    classes, so that a cache hit never pays for importing torchvision.datasets), how to fetch
    them and how to read them."""

    def __init__(self, tv_name: str, needed: list[str], expected: str):
        self.tv_name, self.needed, self.expected = tv_name, needed, expected

    @property
    def tv_class(self):
        import torchvision.datasets

        return getattr(torchvision.datasets, self.tv_name)

    def files(self, root: Path) -> list[Path] | None:
        """The files to read (and to key the cache on), or None when any is missing."""
        paths = [root / name for name in self.needed]
        return paths if all(p.is_file() for p in paths) else None


class _Cifar(_Source):
    def fetch(self, root: Path) -> None:
        self.tv_class(str(root), train=True, download=True)  # one archive holds both splits

    def read(self, name: str, root: Path, files: list[Path]) -> ImageData:
        train, test = (self.tv_class(str(root), train=t, download=False) for t in (True, False))
        return make_image_data(name, train.data.transpose(0, 3, 1, 2), train.targets,
                               test.data.transpose(0, 3, 1, 2), test.targets, train.classes)


class _Mnist(_Source):
    """IDX files, gzipped or not, in DIR itself (Debian's layout) or in DIR/<Class>/raw
    (where torchvision downloads them)."""

    def files(self, root: Path) -> list[Path] | None:
        for folder in (root, root / self.tv_name / "raw"):
            found = [next((p for p in (folder / n, folder / f"{n}.gz") if p.is_file()), None)
                     for n in self.needed]
            if all(found):
                return found
        return None

    def fetch(self, root: Path) -> None:
        self.tv_class(str(root), train=True, download=True)  # fetches both splits

    def read(self, name: str, root: Path, files: list[Path]) -> ImageData:
        train_x, train_y, test_x, test_y = (read_idx(p) for p in files)
        return make_image_data(name, train_x[:, None], train_y, test_x[:, None], test_y,
                               self.tv_class.classes)


class _Svhn(_Source):
    SPLITS = ("train", "test")

    def fetch(self, root: Path) -> None:
        for split in self.SPLITS:
            self.tv_class(str(root), split=split, download=True)

    def read(self, name: str, root: Path, files: list[Path]) -> ImageData:
        train, test = (self.tv_class(str(root), split=s, download=False) for s in self.SPLITS)
        return make_image_data(name, train.data, train.labels, test.data, test.labels,
                               [str(d) for d in range(10)])  # torchvision maps label "10" to 0


def _mnist(tv_name: str) -> _Mnist:
    files = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte"]  # train images, train labels, test images, test labels
    return _Mnist(tv_name, files, f"{', '.join(files)} (.gz or not) directly or under {tv_name}/raw/")


_CIFAR10_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]
SOURCES: dict[str, _Source] = {
    "cifar10": _Cifar("CIFAR10", [f"cifar-10-batches-py/{f}" for f in _CIFAR10_FILES],
                      "cifar-10-batches-py/ (or cifar-10-python.tar.gz)"),
    "cifar100": _Cifar("CIFAR100", [f"cifar-100-python/{f}" for f in ("train", "test", "meta")],
                       "cifar-100-python/ (or cifar-100-python.tar.gz)"),
    "mnist": _mnist("MNIST"),
    "fashion-mnist": _mnist("FashionMNIST"),
    "svhn": _Svhn("SVHN", ["train_32x32.mat", "test_32x32.mat"], "train_32x32.mat and test_32x32.mat"),
}


def default_data_dir() -> Path:
    return cache_root() / "torchvision"


def load_torchvision_set(name: str, data_dir: str | None = None, download: bool = True) -> ImageData:
    source = SOURCES[name]
    root = Path(data_dir).expanduser() if data_dir else default_data_dir()
    found = _locate(source, root, system=SYSTEM_DATASETS / name if not data_dir else None)
    if found is None:
        reason = "downloads are off"
        if download:
            try:
                fetch(name, root)
            except Exception as exc:  # any failure means the same thing: no usable files
                reason = f"download failed: {_one_line(exc)}"
            found = _locate(source, root)
        if found is None:
            raise SpeError(f"{name}: expected {source.expected} in {root}; {reason}; fetch the "
                           f"files on a machine with network access, or pass --data-dir DIR holding them")
    root, files = found
    key = cache_key(name, *(file_digest(p) for p in files))
    return cached(name, name, key, lambda: _read(source, name, root, files))


def _read(source: _Source, name: str, root: Path, files: list[Path]) -> ImageData:
    try:
        return source.read(name, root, files)
    except SpeError:
        raise
    except Exception as exc:  # torchvision's checksum test, unpickling, .mat parsing ...
        raise SpeError(f"{name}: cannot read the files in {root} ({_one_line(exc)}); "
                       f"replace them with the original ones, or delete them to download again") from None


def _one_line(exc: Exception, limit: int = 160) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[:limit - 3].rstrip() + "..."


def _locate(source, root: Path, system: Path | None = None) -> tuple[Path, list[Path]] | None:
    for folder in (root, system) if system else (root,):
        files = source.files(folder)
        if files:
            return folder, files
    return None


def fetch(name: str, root: Path) -> None:
    """Download (or unpack an archive already in ``root``) with bounded socket waits."""
    root.mkdir(parents=True, exist_ok=True)
    with _socket_timeout(DOWNLOAD_TIMEOUT_S), contextlib.redirect_stdout(sys.stderr):
        SOURCES[name].fetch(root)


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    # torchvision opens URLs without a timeout, so the process-wide default is what bounds it.
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def read_idx(path: Path) -> np.ndarray:
    """An IDX file of unsigned bytes (the MNIST format), gzipped or not, as an array."""
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as fh:
            raw = fh.read()
        if raw[:3] != b"\0\0\x08":
            raise ValueError("not an IDX file of unsigned bytes")
        ndim = raw[3]
        shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
        return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)
    except (OSError, ValueError, struct.error) as exc:
        raise SpeError(f"cannot read {path}: {exc}") from None
