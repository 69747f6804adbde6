"""Datasets: loading, the on-disk cache, image folders and tars, deterministic splits, errors."""
from __future__ import annotations

import contextlib
import gzip
import os
import struct
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import run_spe
import spe_analysis.data.imagefolder as imagefolder
import spe_analysis.data.torchvision_sets as tv_sets
from spe_analysis.data import (DATASET_NAMES, ImageData, cache_root, channel_stats, check_dataset_name,
                               load_dataset, select_splits)
from spe_analysis.data.imagedata import make_image_data
from spe_analysis.errors import SpeError
from spe_analysis.records import load_records

CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                 "ship", "truck"]


@contextlib.contextmanager
def one_line_error(*fragments: str):
    """Expect a SpeError whose message is one line mentioning every fragment."""
    with pytest.raises(SpeError) as info:
        yield
    message = str(info.value)
    assert "\n" not in message and message.strip(), message
    for fragment in fragments:
        assert fragment.lower() in message.lower(), message


def forbid_decoding(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the source was decoded again instead of read from the cache")

    monkeypatch.setattr(imagefolder, "_decode", fail)


def counting_decoder(monkeypatch) -> list:
    calls = []
    real = imagefolder._decode

    def count(*args):
        calls.append(args[2])
        return real(*args)

    monkeypatch.setattr(imagefolder, "_decode", count)
    return calls


def write_image(path: Path, size=(4, 3), mode="RGB", value=0) -> None:
    """A small image whose pixel (0, 0) holds ``value`` in every channel (rest is a gradient)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = size
    channels = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}[mode]
    array = (np.arange(width * height * channels).reshape(height, width, channels) * 7 % 256)
    array[0, 0] = value
    Image.fromarray(array.astype(np.uint8).squeeze(-1) if channels == 1 else array.astype(np.uint8),
                    mode).save(path)


def make_folder(root: Path, classes=("dog", "cat", "bird"), per_split=(3, 2), mode="RGB",
                size=(4, 3), suffix=".png") -> Path:
    """``root/train/<class>/i.png`` and ``root/test/<class>/i.png``; pixel (0, 0) = 10*label."""
    for split, count in zip(("train", "test"), per_split):
        for label, cls in enumerate(sorted(classes)):
            for i in range(count):
                write_image(root / split / cls / f"{i}{suffix}", size, mode, value=10 * label)
    return root


def make_tar(folder: Path, archive: Path, arcname: str) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=arcname)
    return archive


# --- names and cache folder --------------------------------------------------------------

def test_dataset_names_are_checked():
    for name in DATASET_NAMES + ("imagefolder:some/where",):
        assert check_dataset_name(name) == name
    for bad in ("imagenet", "CIFAR10", "imagefolder:", ""):
        with one_line_error("unknown dataset", "imagefolder:PATH", "cifar10"):
            check_dataset_name(bad)
        with one_line_error("unknown dataset"):
            load_dataset(bad)


def test_cache_root_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SPE_CACHE_DIR", str(tmp_path / "explicit"))
    assert cache_root() == tmp_path / "explicit"
    monkeypatch.delenv("SPE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "spe"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "spe"


# --- digits ------------------------------------------------------------------------------

def test_digits_shapes_labels_and_fixed_stratified_split():
    data = load_dataset("digits")
    assert data.name == "digits" and data.classes == [str(d) for d in range(10)]
    assert data.train_x.shape == (1347, 1, 8, 8) and data.test_x.shape == (450, 1, 8, 8)
    assert data.train_x.dtype == torch.uint8 and data.train_y.dtype == torch.int64
    assert data.train_x.is_contiguous() and data.test_x.is_contiguous()
    assert data.train_x.max() == 255 and data.train_x.min() == 0  # 0..16 stretched to 0..255
    assert (data.num_classes, data.channels, data.image_size) == (10, 1, (8, 8))
    # Stratified: every class has about a quarter of its images in test.
    share = torch.bincount(data.test_y) / (torch.bincount(data.test_y) + torch.bincount(data.train_y))
    assert torch.all((share - 0.25).abs() < 0.02)
    # The split is fixed: rebuilt from scratch (no cache) it is the same.
    from spe_analysis.data.digits import _build
    rebuilt = _build("digits")
    assert torch.equal(rebuilt.train_x, data.train_x) and torch.equal(rebuilt.test_y, data.test_y)


def test_channel_stats_are_exact_train_statistics():
    images = torch.randint(0, 256, (50, 3, 5, 6), dtype=torch.uint8)
    mean, std = channel_stats(images)
    as_float = images.double().div(255).transpose(0, 1).reshape(3, -1)
    assert np.allclose(mean, as_float.mean(1)) and np.allclose(std, as_float.std(1, unbiased=False))
    data = load_dataset("digits")
    assert np.allclose(data.mean, [data.train_x.double().div(255).mean()])


# --- imagefolder -------------------------------------------------------------------------

def test_imagefolder_from_folder_labels_classes_alphabetically(tmp_path):
    root = make_folder(tmp_path / "pets")
    (root / "train" / "dog" / "notes.txt").write_text("not an image")
    (root / "train" / "dog" / ".DS_Store").write_bytes(b"\0\1")
    (root / "train" / "dog" / "._0.png").write_bytes(b"\0\1")  # macOS resource fork
    data = load_dataset(f"imagefolder:{root}")
    assert data.classes == ["bird", "cat", "dog"]
    assert data.train_x.shape == (9, 3, 3, 4) and data.test_x.shape == (6, 3, 3, 4)
    assert data.train_y.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    # PNG is lossless: pixel (0, 0) carries 10 * label in every channel.
    assert torch.equal(data.train_x[:, :, 0, 0], (10 * data.train_y)[:, None].expand(-1, 3).byte())
    assert torch.equal(data.test_x[:, :, 0, 0], (10 * data.test_y)[:, None].expand(-1, 3).byte())


def test_imagefolder_tar_with_top_directory_equals_the_folder(tmp_path):
    root = make_folder(tmp_path / "pets", suffix=".jpg")
    from_folder = load_dataset(f"imagefolder:{root}")
    for arcname in ("pets", "."):  # one wrapping directory, or "./train/..." members
        archive = make_tar(root, tmp_path / f"pets{len(arcname)}.tar.gz", arcname)
        from_tar = load_dataset(f"imagefolder:{archive}")
        assert from_tar.classes == from_folder.classes
        for field in ("train_x", "train_y", "test_x", "test_y"):
            assert torch.equal(getattr(from_tar, field), getattr(from_folder, field)), field
        assert from_tar.mean == from_folder.mean and from_tar.std == from_folder.std


def test_imagefolder_all_grey_is_one_channel_and_mixed_is_rgb(tmp_path):
    grey = load_dataset(f"imagefolder:{make_folder(tmp_path / 'grey', mode='L')}")
    assert grey.channels == 1 and len(grey.mean) == 1
    mixed = make_folder(tmp_path / "mixed", mode="L")
    write_image(mixed / "train" / "cat" / "rgba.png", mode="RGBA", value=200)
    data = load_dataset(f"imagefolder:{mixed}")
    assert data.channels == 3
    # Grey images are replicated to RGB; alpha is dropped.
    assert torch.equal(data.train_x[0, 0], data.train_x[0, 1])
    rgba = data.train_x[3 + 3]  # bird 0-2, then cat: 0.png, 1.png, 2.png, rgba.png
    assert rgba[:, 0, 0].tolist() == [200, 200, 200]


def test_imagefolder_cache_hit_does_not_decode_and_changes_invalidate(tmp_path, monkeypatch):
    root = make_folder(tmp_path / "pets")
    calls = counting_decoder(monkeypatch)
    first = load_dataset(f"imagefolder:{root}")
    assert len(calls) == 15
    second = load_dataset(f"imagefolder:{root}")
    assert len(calls) == 15 and torch.equal(first.train_x, second.train_x)
    write_image(root / "test" / "dog" / "new.png", value=20)
    changed = load_dataset(f"imagefolder:{root}")
    assert len(calls) == 31 and len(changed.test_y) == 7


def test_cache_hit_imports_no_decoder(tmp_path, no_network):
    """A warm load reads one file: neither torchvision, PIL nor scikit-learn gets imported."""
    folder = make_folder(tmp_path / "pets")
    make_idx_set(tmp_path / "idx", gz=True)
    loads = [("imagefolder:" + str(folder), None), ("mnist", str(tmp_path / "idx")), ("digits", None)]
    for name, data_dir in loads:
        load_dataset(name, data_dir)
    script = ("import sys; from spe_analysis.data import load_dataset\n"
              f"for name, data_dir in {loads!r}: load_dataset(name, data_dir)\n"
              "print(sorted({'torchvision', 'PIL', 'sklearn'} & {m.split('.')[0] for m in sys.modules}))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env={**os.environ, "SPE_CACHE_DIR": str(cache_root())}, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_damaged_cache_entry_is_rebuilt(tmp_path, monkeypatch):
    root = make_folder(tmp_path / "pets")
    expected = load_dataset(f"imagefolder:{root}")
    for entry in (cache_root() / "datasets").glob("imagefolder-pets-*.pt"):
        entry.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="unreadable dataset cache"):
        rebuilt = load_dataset(f"imagefolder:{root}")
    assert torch.equal(rebuilt.train_x, expected.train_x)


def test_imagefolder_errors_are_one_line(tmp_path):
    with one_line_error("does not exist", "train/<class>"):
        load_dataset(f"imagefolder:{tmp_path / 'nowhere'}")
    (tmp_path / "file.txt").write_text("hello")
    with one_line_error("neither a folder nor a tar"):
        load_dataset(f"imagefolder:{tmp_path / 'file.txt'}")
    no_test = make_folder(tmp_path / "no_test", per_split=(2, 0))
    with one_line_error("no images under test/<class>/", "expected train/<class>"):
        load_dataset(f"imagefolder:{no_test}")
    flat = tmp_path / "flat"
    write_image(flat / "a.png")
    with one_line_error("no images under train/<class>/ or test/<class>/"):
        load_dataset(f"imagefolder:{flat}")
    sizes = make_folder(tmp_path / "sizes")
    write_image(sizes / "test" / "dog" / "big.png", size=(8, 8))
    with one_line_error("differ in size", "test/dog/big.png", "8x8", "4x3"):
        load_dataset(f"imagefolder:{sizes}")
    extra = make_folder(tmp_path / "extra")
    write_image(extra / "test" / "zebra" / "0.png")
    with one_line_error("zebra", "no train images"):
        load_dataset(f"imagefolder:{extra}")
    broken = make_folder(tmp_path / "broken")
    (broken / "train" / "dog" / "bad.png").write_bytes(b"not a png at all")
    with one_line_error("cannot decode", "train/dog/bad.png"):
        load_dataset(f"imagefolder:{broken}")
    whole = make_tar(make_folder(tmp_path / "t"), tmp_path / "whole.tar.gz", "t").read_bytes()
    for fraction in (0.3, 0.5, 0.7, 0.9, 0.999):  # a cut download never loads as a smaller set
        truncated = tmp_path / f"cut{fraction}.tar.gz"
        truncated.write_bytes(whole[: int(len(whole) * fraction)])
        with one_line_error("cannot read tar archive"):
            load_dataset(f"imagefolder:{truncated}")


# --- the real CIFAR-10 JPEG tar ----------------------------------------------------------

@pytest.mark.slow
def test_cifar10_jpeg_tar_loads_fully(cifar_jpeg):
    data = load_dataset(f"imagefolder:{cifar_jpeg}")
    assert data.classes == CIFAR_CLASSES
    assert data.train_x.shape == (50_000, 3, 32, 32) and data.test_x.shape == (10_000, 3, 32, 32)
    assert torch.bincount(data.train_y).tolist() == [5000] * 10
    assert torch.bincount(data.test_y).tolist() == [1000] * 10
    assert np.allclose(data.mean, (0.4914, 0.4822, 0.4465), atol=2e-3)
    assert all(0.23 < s < 0.27 for s in data.std)


@pytest.mark.slow
def test_cifar10_jpeg_second_load_reads_the_cache(cifar_jpeg, monkeypatch):
    first = load_dataset(f"imagefolder:{cifar_jpeg}")  # decodes unless an earlier test did
    forbid_decoding(monkeypatch)
    second = load_dataset(f"imagefolder:{cifar_jpeg}")
    assert torch.equal(first.train_x, second.train_x) and torch.equal(first.test_y, second.test_y)
    assert second.mean == first.mean and second.classes == CIFAR_CLASSES


# --- balanced subsets and validation splits ----------------------------------------------

def synthetic(counts, name="synthetic") -> ImageData:
    labels = np.repeat(np.arange(len(counts)), counts)
    images = np.zeros((len(labels), 1, 2, 2), np.uint8)
    images[:, 0, 0, 0], images[:, 0, 0, 1] = np.divmod(np.arange(len(labels)), 256)  # row i is unique
    return make_image_data(name, images, labels, images[:len(counts)], np.arange(len(counts)),
                           [f"c{i}" for i in range(len(counts))])


def rows_of(subset_x, data):
    """Indices into data.train_x of the rows in subset_x (rows are unique in `synthetic`)."""
    lookup = {tuple(row.flatten().tolist()): i for i, row in enumerate(data.train_x)}
    return [lookup[tuple(row.flatten().tolist())] for row in subset_x]


def test_full_train_set_without_subset_or_validation():
    data = load_dataset("digits")
    train_x, train_y, val_x, val_y = select_splits(data, None, None)
    assert train_x is data.train_x and train_y is data.train_y and val_x is None and val_y is None


def test_balanced_subset_is_exact_deterministic_nested_and_seed_free():
    data = load_dataset("digits")
    torch.manual_seed(1), np.random.seed(1)
    x1, y1, _, _ = select_splits(data, train_subset=200)
    torch.manual_seed(2), np.random.seed(2)
    x2, y2, _, _ = select_splits(data, train_subset=200)
    assert torch.bincount(y1).tolist() == [20] * 10
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    small = synthetic([40] * 5)
    a = set(rows_of(select_splits(small, 50)[0], small))
    b = set(rows_of(select_splits(small, 100)[0], small))
    assert a < b  # a larger subset contains the smaller one
    _, y, _, _ = select_splits(data, train_subset=25)
    assert sorted(torch.bincount(y).tolist()) == [2] * 5 + [3] * 5


def test_subset_of_imbalanced_classes_fills_evenly_until_classes_run_out():
    data = synthetic([3, 50, 50, 8])
    _, y, _, _ = select_splits(data, train_subset=40)
    assert torch.bincount(y).tolist() == [3, 15, 14, 8]


def test_validation_split_is_disjoint_stratified_and_fixed():
    data = synthetic([60, 40, 20])
    train_x, train_y, val_x, val_y = select_splits(data, None, 0.25)
    train_rows, val_rows = set(rows_of(train_x, data)), set(rows_of(val_x, data))
    assert not train_rows & val_rows and len(train_rows | val_rows) == 120
    assert torch.bincount(val_y).tolist() == [15, 10, 5]
    assert torch.bincount(train_y).tolist() == [45, 30, 15]
    again = select_splits(data, None, 0.25)
    assert torch.equal(again[2], val_x) and torch.equal(again[0], train_x)
    # With a subset, the validation images come out of the subset.
    sub_x, _, val_x, val_y = select_splits(data, 30, 0.2)
    subset_rows = set(rows_of(select_splits(data, 30)[0], data))
    assert set(rows_of(sub_x, data)) | set(rows_of(val_x, data)) == subset_rows
    assert torch.bincount(val_y).tolist() == [2, 2, 2]


@pytest.mark.parametrize("subset,val,fragments", [
    (2_000, None, ("train-subset", "1347")),
    (5, None, ("train-subset", "one image per class")),
    (0, None, ("train-subset",)),
    (True, None, ("whole number",)),
    (12.5, None, ("whole number",)),
    ("many", None, ("whole number",)),
    (None, 0.0, ("val-split", "between 0 and 1")),
    (None, 1.0, ("val-split",)),
    (None, float("nan"), ("val-split",)),
    (None, "half", ("val-split",)),
    (100, 0.05, ("val-split", "cannot be stratified")),
])
def test_bad_split_values_are_one_line_errors(subset, val, fragments):
    with one_line_error(*fragments):
        select_splits(load_dataset("digits"), subset, val)


# --- torchvision datasets ----------------------------------------------------------------

@pytest.fixture
def no_network(monkeypatch):
    """Make every download fail at once, as on a machine without network."""
    attempts = []

    def refuse(request, *args, **kwargs):
        attempts.append(getattr(request, "full_url", request))
        raise urllib.error.URLError("network is unreachable (test)")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(tv_sets, "SYSTEM_DATASETS", Path("/nonexistent"))
    return attempts


@pytest.mark.parametrize("name,expected", [
    ("cifar10", "cifar-10-batches-py/ (or cifar-10-python.tar.gz)"),
    ("cifar100", "cifar-100-python/ (or cifar-100-python.tar.gz)"),
    ("mnist", "train-images-idx3-ubyte"),
    ("fashion-mnist", "t10k-labels-idx1-ubyte"),
    ("svhn", "train_32x32.mat and test_32x32.mat"),
])
def test_missing_torchvision_files_give_one_line_with_expected_files(name, expected, tmp_path,
                                                                     no_network):
    with one_line_error(name, expected, str(tmp_path), "download failed", "--data-dir"):
        load_dataset(name, data_dir=str(tmp_path))
    assert no_network, "a download should have been tried (and refused)"
    with one_line_error(expected, "downloads are off"):
        load_dataset(name, data_dir=str(tmp_path / "other"), download=False)
    assert len(no_network) == len(set(no_network))  # no retry loop on the same URL


def test_download_attempt_is_bounded_by_a_socket_timeout(tmp_path, monkeypatch):
    import socket

    seen = []

    def refuse(*args, **kwargs):
        seen.append(socket.getdefaulttimeout())
        raise urllib.error.URLError("unreachable (test)")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    before = socket.getdefaulttimeout()
    with one_line_error("download failed"):
        load_dataset("cifar10", data_dir=str(tmp_path))
    assert seen == [tv_sets.DOWNLOAD_TIMEOUT_S] and socket.getdefaulttimeout() == before


def test_file_tables_match_torchvision():
    import torchvision.datasets as tvd

    for name, cls in (("cifar10", tvd.CIFAR10), ("cifar100", tvd.CIFAR100)):
        names = [f for f, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]
        assert tv_sets.SOURCES[name].needed == [f"{cls.base_folder}/{f}" for f in names]
        assert cls.filename in tv_sets.SOURCES[name].expected
    for name, cls in (("mnist", tvd.MNIST), ("fashion-mnist", tvd.FashionMNIST)):
        assert tv_sets.SOURCES[name].needed == [f.removesuffix(".gz") for f, _ in cls.resources]
    assert tv_sets.SOURCES["svhn"].needed == [tvd.SVHN.split_list[s][1] for s in ("train", "test")]


def test_missing_files_in_default_folder_name_the_cache(no_network):
    with one_line_error(str(cache_root() / "torchvision"), "cifar-10-batches-py"):
        load_dataset("cifar10", download=False)


@pytest.mark.parametrize("name,files", [
    ("cifar10", ["cifar-10-batches-py/" + f for f in
                 [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]]),
    ("svhn", ["train_32x32.mat", "test_32x32.mat"]),
])
def test_damaged_torchvision_files_are_one_line_error(name, files, tmp_path, no_network):
    for file in files:
        (tmp_path / file).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / file).write_bytes(b"not the real thing")
    with one_line_error(name, "cannot read the files", str(tmp_path)):
        load_dataset(name, data_dir=str(tmp_path))
    assert not no_network


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if path.suffix == ".gz":
        payload = gzip.compress(payload)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload)


def make_idx_set(folder: Path, gz: bool, n_train=20, n_test=10):
    rng = np.random.default_rng(0)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
              "train-labels-idx1-ubyte": np.arange(n_train) % 10,
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
              "t10k-labels-idx1-ubyte": np.arange(n_test) % 10}
    for stem, array in arrays.items():
        write_idx(folder / (stem + (".gz" if gz else "")), array)
    return arrays


@pytest.mark.parametrize("name,layout,gz", [
    ("fashion-mnist", ".", True),             # Debian's dataset-fashion-mnist layout
    ("mnist", ".", False),
    ("mnist", "MNIST/raw", True),             # where torchvision downloads to
    ("fashion-mnist", "FashionMNIST/raw", False),
])
def test_mnist_style_files_load_without_network(name, layout, gz, tmp_path, no_network):
    arrays = make_idx_set(tmp_path / layout, gz)
    data = load_dataset(name, data_dir=str(tmp_path))
    assert not no_network
    assert data.train_x.shape == (20, 1, 28, 28) and data.test_x.shape == (10, 1, 28, 28)
    assert np.array_equal(data.train_x[:, 0].numpy(), arrays["train-images-idx3-ubyte"])
    assert data.test_y.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()
    assert len(data.classes) == 10


def test_corrupt_idx_file_is_one_line_error(tmp_path, no_network):
    make_idx_set(tmp_path, gz=False)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(b"\x01\x02\x03")
    with one_line_error("train-labels-idx1-ubyte", "not an IDX file"):
        load_dataset("mnist", data_dir=str(tmp_path))


DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


needs_fashion = pytest.mark.needs("fashion-mnist")
fashion_missing = pytest.mark.skipif(
    not (DEBIAN_FASHION / "train-images-idx3-ubyte.gz").exists(),
    reason="Debian package dataset-fashion-mnist not installed (apt-get install dataset-fashion-mnist)")


@pytest.mark.slow
@needs_fashion
@fashion_missing
def test_debian_fashion_mnist_package(monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: pytest.fail("no download"))
    data = load_dataset("fashion-mnist", data_dir=str(DEBIAN_FASHION))
    assert data.train_x.shape == (60_000, 1, 28, 28) and data.test_x.shape == (10_000, 1, 28, 28)
    assert data.classes[0] == "T-shirt/top" and torch.bincount(data.test_y).tolist() == [1000] * 10
    assert abs(data.mean[0] - 0.2860) < 1e-3
    # Without --data-dir the system folder is found too (the cache folder holds no files).
    assert torch.equal(load_dataset("fashion-mnist").test_y, data.test_y)


@pytest.mark.slow
@needs_fashion
@fashion_missing
def test_spe_train_learns_on_a_slice_of_the_debian_fashion_mnist(tmp_path):
    """The path behind the Fashion-MNIST findings, end to end on 600 real training images."""
    result = run_spe("train", "--dataset", "fashion-mnist", "--data-dir", DEBIAN_FASHION,
                     "--train-subset", "600", "--epochs", "2", "--device", "cpu", "--quiet",
                     "--out", tmp_path)
    assert result.code == 0, result.stderr
    (record,) = load_records(tmp_path)
    assert record["status"] == "ok" and record["config"]["dataset"] == "fashion-mnist"
    assert record["metrics"]["final_test_acc"] > 20.0  # twice chance, on all 10,000 test images
