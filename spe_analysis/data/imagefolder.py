"""``imagefolder:PATH``: images laid out ``train/<class>/*`` and ``test/<class>/*``.

PATH is a folder, or a tar archive (``.tar.gz`` etc.) of one, possibly wrapped in a single
top-level directory.  Tar members are read in one forward pass, never extracted.  Class
folders sorted alphabetically give the labels (the order torchvision's ImageFolder uses).
Images are RGB, or single-channel when every image is grey; all must share one size.
They are decoded with PIL (torchvision.io decodes small JPEGs about 3x faster, but it is
deprecated since torchvision 0.29; the decoded result is cached, so this is paid once).
"""
from __future__ import annotations

import io
import lzma
import tarfile
import zlib
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import SpeError
from .cache import cache_key, cached, file_digest, tree_digest
from .imagedata import ImageData, make_image_data

SPLITS = ("train", "test")
LAYOUT = "train/<class>/* and test/<class>/* images"
GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")  # PIL modes kept as one channel


def load_imagefolder(name: str, path_text: str) -> ImageData:
    path = Path(path_text).expanduser()
    if path.is_dir():
        source = ("folder", tree_digest(path))
    elif path.is_file() and _is_tar(path):
        source = ("tar", file_digest(path))
    else:
        what = "is neither a folder nor a tar archive" if path.exists() else "does not exist"
        raise SpeError(f"{name}: {path} {what}; expected a folder or .tar.gz holding {LAYOUT}")
    label = "imagefolder-" + path.name.split(".")[0]
    return cached(name, label, cache_key("imagefolder", *source), lambda: _build(name, path))


def _is_tar(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def _build(name: str, path: Path) -> ImageData:
    files = dict(_read_images(name, path))
    splits = _layout(name, path, list(files))
    classes = sorted({cls for cls, _ in splits["train"]})
    unknown = sorted({cls for cls, _ in splits["test"]} - set(classes))
    if unknown:
        raise SpeError(f"{name}: test classes {', '.join(unknown)} have no train images; "
                       f"train/ and test/ need the same class folders")
    entries = splits["train"] + splits["test"]
    members = [member for _, member in entries]
    images = _stack(name, [_decode(name, files.pop(m), m) for m in members], members)
    label_of = {cls: i for i, cls in enumerate(classes)}
    labels = [label_of[cls] for cls, _ in entries]
    n = len(splits["train"])
    return make_image_data(name, images[:n], labels[:n], images[n:], labels[n:], classes)


def _is_image(member: str) -> bool:
    from torchvision.datasets.folder import IMG_EXTENSIONS

    parts = member.split("/")
    # Skip hidden files and folders (.DS_Store, macOS "._x.jpg" resource forks, __MACOSX/).
    if any(p.startswith(".") and p not in (".", "..") for p in parts) or "__MACOSX" in parts:
        return False
    return member.lower().endswith(IMG_EXTENSIONS)


def _read_images(name: str, path: Path) -> Iterator[tuple[str, bytes]]:
    """(relative posix path, file bytes) of every image file under the folder or in the tar."""
    if path.is_dir():
        for file in sorted(path.rglob("*")):
            member = file.relative_to(path).as_posix()
            if file.is_file() and _is_image(member):
                yield member, file.read_bytes()
        return
    try:
        with tarfile.open(path, "r:*") as archive:
            for info in archive:  # in archive order: one forward pass through the stream
                if info.isfile() and _is_image(info.name):
                    yield info.name, archive.extractfile(info).read()
            # Reading on to the end makes gzip/bz2/xz check their end marker and checksum, so a
            # truncated download is an error rather than a silently smaller dataset.
            while archive.fileobj.read(1 << 20):
                pass
    except (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError) as exc:
        raise SpeError(f"{name}: cannot read tar archive {path}: {exc}") from None


def _layout(name: str, path: Path, members: list[str]) -> dict[str, list[tuple[str, str]]]:
    """Per split, the sorted (class, member) pairs; strips "./" and one wrapping directory."""
    parts = {m: tuple(p for p in m.split("/") if p not in ("", ".")) for m in members}
    tops = {p[0] for p in parts.values() if p}
    strip = 1 if len(tops) == 1 and not tops & set(SPLITS) else 0
    splits: dict[str, list[tuple[str, str]]] = {s: [] for s in SPLITS}
    for member, p in parts.items():
        p = p[strip:]
        if len(p) >= 3 and p[0] in SPLITS:
            splits[p[0]].append((p[1], member))
    missing = [s for s in SPLITS if not splits[s]]
    if missing:
        found = ", ".join(sorted(tops)[:5]) or "no image files"
        raise SpeError(f"{name}: no images under {' or '.join(f'{s}/<class>/' for s in missing)} "
                       f"in {path} (top level holds: {found}); expected {LAYOUT}")
    return {s: sorted(entries) for s, entries in splits.items()}


def _decode(name: str, blob: bytes, member: str) -> np.ndarray:
    """One image as an H x W x C uint8 array: C = 1 for grey modes, else 3 (alpha dropped)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(blob)) as image:
            mode = "L" if image.mode in GREY_MODES else "RGB"
            array = np.asarray(image if image.mode == mode else image.convert(mode))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise SpeError(f"{name}: cannot decode image {member}: {exc}") from None
    return array.reshape(*array.shape[:2], -1)


def _stack(name: str, images: list[np.ndarray], members: list[str]) -> np.ndarray:
    """One N x C x H x W array: RGB with grey images replicated, unless all are grey."""
    size = images[0].shape[:2]
    for image, member in zip(images, members):
        if image.shape[:2] != size:
            raise SpeError(f"{name}: images differ in size: {members[0]} is "
                           f"{size[1]}x{size[0]} but {member} is {image.shape[1]}x{image.shape[0]}; "
                           f"resize them to one size first")
    channels = max(image.shape[2] for image in images)
    return np.stack([np.broadcast_to(image, (*size, channels)) for image in images]).transpose(0, 3, 1, 2)
