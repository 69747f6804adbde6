"""Augmentation of whole batches on the device: random crops with padding and horizontal flips.

Working on the batch (one gather per batch instead of a PIL call per image) is what keeps the
data pipeline from dominating short CPU runs.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator,
                pad_mode: str = "zeros") -> torch.Tensor:
    """Per-sample random crop of a padded batch back to its size (torchvision RandomCrop).

    ``x`` is already normalised, so zero padding is the mean colour rather than black;
    ``pad_mode="reflect"`` mirrors the border instead (airbench's translation).
    """
    if padding <= 0:
        return x
    b, c, h, w = x.shape
    shifts = torch.randint(0, 2 * padding + 1, (2, b), generator=generator).to(x.device)
    rows = (shifts[0, :, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (shifts[1, :, None] + torch.arange(w, device=x.device))[:, None, None, :]
    batch = torch.arange(b, device=x.device)[:, None, None, None]
    chans = torch.arange(c, device=x.device)[None, :, None, None]
    padded = F.pad(x, (padding,) * 4) if pad_mode == "zeros" else F.pad(x, (padding,) * 4, mode=pad_mode)
    return padded[batch, chans, rows, cols]


def flip_where(x: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
    """Flip left-right the samples where the boolean vector ``flips`` is true."""
    return torch.where(flips.to(x.device)[:, None, None, None], x.flip(3), x)


def random_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Flip each sample left-right with probability 1/2."""
    return flip_where(x, torch.rand(x.shape[0], generator=generator) < 0.5)


def alternate_flips(first: torch.Tensor, epoch: int) -> torch.Tensor:
    """airbench's alternating flips: which images to flip in ``epoch`` (from 1), given the
    random choice ``first`` of epoch 1: the same in odd epochs, the others in even ones, so
    every image is seen both ways every two epochs."""
    return first if epoch % 2 else ~first


def augment_batch(x: torch.Tensor, padding: int, flip: bool, generator: torch.Generator,
                  pad_mode: str = "zeros", flips: torch.Tensor | None = None) -> torch.Tensor:
    """Crop, then flip: at random, or where ``flips`` says when it is given."""
    x = random_crop(x, padding, generator, pad_mode)
    if not flip:
        return x
    return random_flip(x, generator) if flips is None else flip_where(x, flips)


def tta_logits(model, x: torch.Tensor, level: int) -> torch.Tensor:
    """Logits averaged over test-time views (airbench's TTA): level 0 the image itself; 1 also
    its mirror image (half each); 2 half that pair and a quarter each of the pair shifted by one
    pixel up-left and down-right (reflected borders)."""
    def mirrored(view):
        return 0.5 * (model(view).float() + model(view.flip(3)).float())

    if level == 0:
        return model(x).float()
    logits = mirrored(x)
    if level == 1:
        return logits
    h, w = x.shape[2:]
    padded = F.pad(x, (1,) * 4, mode="reflect")
    return 0.5 * logits + 0.25 * (mirrored(padded[:, :, :h, :w]) + mirrored(padded[:, :, 2:, 2:]))
