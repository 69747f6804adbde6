"""ImageData: one dataset as uint8 tensors, with its per-channel statistics."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import SpeError


@dataclass(frozen=True)
class ImageData:
    """Train and test images (uint8, N x C x H x W, contiguous), int64 labels, class names,
    and the per-channel mean/std of the train images in [0, 1] units (for Normalize)."""

    name: str
    train_x: torch.Tensor = field(repr=False)
    train_y: torch.Tensor = field(repr=False)
    test_x: torch.Tensor = field(repr=False)
    test_y: torch.Tensor = field(repr=False)
    classes: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def channels(self) -> int:
        return int(self.train_x.shape[1])

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.train_x.shape[2]), int(self.train_x.shape[3])


def make_image_data(name: str, train_x, train_y, test_x, test_y, classes) -> ImageData:
    """Build an ImageData from array-likes (N x C x H x W images, N labels); computes mean/std."""
    # Own, writable, contiguous copies: sources may be read-only buffers or strided views.
    train_x, test_x = (torch.tensor(np.asarray(x), dtype=torch.uint8).contiguous()
                       for x in (train_x, test_x))
    train_y, test_y = (torch.tensor(np.asarray(y), dtype=torch.int64) for y in (train_y, test_y))
    for split, x, y in (("train", train_x, train_y), ("test", test_x, test_y)):
        if x.ndim != 4 or len(x) != len(y) or len(x) == 0:
            raise SpeError(f"{name}: {split} images must be a non-empty N x C x H x W array "
                           f"with one label each, got {tuple(x.shape)} and {len(y)} labels")
        if y.min() < 0 or y.max() >= len(classes):
            raise SpeError(f"{name}: {split} labels must lie in 0..{len(classes) - 1}")
    if train_x.shape[1:] != test_x.shape[1:]:
        raise SpeError(f"{name}: train images are {tuple(train_x.shape[1:])} but test images "
                       f"are {tuple(test_x.shape[1:])}; both splits need one shape")
    mean, std = channel_stats(train_x)
    return ImageData(name, train_x, train_y, test_x, test_y, [str(c) for c in classes], mean, std)


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Exact per-channel mean and (population) std of uint8 images, in [0, 1] units.

    A 256-bin histogram per channel gives exact float64 sums without a float copy of the data.
    """
    levels = torch.arange(256, dtype=torch.float64)
    means, stds = [], []
    for c in range(images.shape[1]):
        hist = torch.bincount(images[:, c].reshape(-1), minlength=256).double()
        mean = (hist * levels).sum() / hist.sum()
        var = (hist * (levels - mean) ** 2).sum() / hist.sum()
        means.append(mean.item() / 255.0)
        stds.append(var.sqrt().item() / 255.0)
    return tuple(means), tuple(stds)
