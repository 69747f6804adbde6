"""Which train images a run trains on and validates on.

Both choices are fixed by the data alone (a constant seed, never the run's seed), so every
cell and seed of a sweep sees the same images and differences come from the pooling.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import SpeError
from .imagedata import ImageData

SELECTION_SEED = 0


def select_splits(data: ImageData, train_subset: int | None = None, val_split: float | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """``(train_x, train_y, val_x, val_y)``; the val pair is None without ``val_split``.

    ``train_subset`` keeps that many train images, as balanced over classes as the class sizes
    allow (counts differ by at most one where every class has enough images); a larger subset
    contains a smaller one.  ``val_split`` then holds out that stratified fraction of them for
    validation.  The test set is never touched.
    """
    labels = data.train_y.numpy()
    index = np.arange(len(labels))
    if train_subset is not None:
        index = balanced_subset(labels, _subset_size(train_subset, len(labels), data.num_classes),
                                data.num_classes)
    if val_split is None:
        if train_subset is None:
            return data.train_x, data.train_y, None, None
        return _take(data, index) + (None, None)
    train_index, val_index = stratified_holdout(labels, index, _fraction(val_split))
    return _take(data, train_index) + _take(data, val_index)


def balanced_subset(labels: np.ndarray, size: int, num_classes: int) -> np.ndarray:
    """Sorted indices of ``size`` images, per class the first ones of one fixed shuffle."""
    counts = np.bincount(labels, minlength=num_classes)
    quota = np.zeros_like(counts)
    while (left := size - quota.sum()) > 0:  # fill classes evenly until the small ones run out
        open_ = np.flatnonzero(quota < counts)
        share = left // len(open_)
        if share == 0:  # the last few images go one each to the lowest open labels
            quota[open_[:left]] += 1
        else:
            quota[open_] = np.minimum(quota[open_] + share, counts[open_])
    order = np.random.default_rng(SELECTION_SEED).permutation(len(labels))
    chosen = [order[labels[order] == c][:q] for c, q in enumerate(quota)]
    return np.sort(np.concatenate(chosen))


def stratified_holdout(labels: np.ndarray, index: np.ndarray, fraction: float
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Split ``index`` into (train, validation) with ``fraction`` of each class in validation."""
    from sklearn.model_selection import train_test_split

    try:
        train, val = train_test_split(index, test_size=fraction, stratify=labels[index],
                                      random_state=SELECTION_SEED)
    except ValueError as exc:  # e.g. fewer held-out images than classes
        raise SpeError(f"val-split {fraction} of {len(index)} train images cannot be stratified: "
                       f"{exc}; use a larger fraction or subset") from None
    return np.sort(train), np.sort(val)


def _take(data: ImageData, index: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    rows = torch.from_numpy(index)
    return data.train_x[rows], data.train_y[rows]


def _subset_size(value, available: int, num_classes: int) -> int:
    try:
        whole = not isinstance(value, bool) and float(value).is_integer()
    except (TypeError, ValueError, OverflowError):
        whole = False
    if not whole:
        raise SpeError(f"train-subset must be a whole number of images, got {value!r}")
    size = int(float(value))
    if not num_classes <= size <= available:
        raise SpeError(f"train-subset must be between {num_classes} (one image per class) and "
                       f"{available} (the whole train set), got {size}")
    return size


def _fraction(value) -> float:
    try:
        fraction = float(value)
    except (TypeError, ValueError):
        raise SpeError(f"val-split must be a fraction between 0 and 1, got {value!r}") from None
    if not (math.isfinite(fraction) and 0.0 < fraction < 1.0):
        raise SpeError(f"val-split must be a fraction strictly between 0 and 1, got {value!r}")
    return fraction
