"""Augmentation of whole batches on the device: random crops with padding and horizontal flips.

Working on the batch (one gather per batch instead of a PIL call per image) is what keeps the
data pipeline from dominating short CPU runs.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Per-sample random crop of a zero-padded batch back to its size (torchvision RandomCrop).

    ``x`` is already normalised, so zero padding is the mean colour rather than black.
    """
    if padding <= 0:
        return x
    b, c, h, w = x.shape
    shifts = torch.randint(0, 2 * padding + 1, (2, b), generator=generator).to(x.device)
    rows = (shifts[0, :, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (shifts[1, :, None] + torch.arange(w, device=x.device))[:, None, None, :]
    batch = torch.arange(b, device=x.device)[:, None, None, None]
    chans = torch.arange(c, device=x.device)[None, :, None, None]
    return F.pad(x, (padding,) * 4)[batch, chans, rows, cols]


def random_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Flip each sample left-right with probability 1/2."""
    flip = (torch.rand(x.shape[0], generator=generator) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def augment_batch(x: torch.Tensor, padding: int, flip: bool, generator: torch.Generator) -> torch.Tensor:
    x = random_crop(x, padding, generator)
    return random_flip(x, generator) if flip else x
