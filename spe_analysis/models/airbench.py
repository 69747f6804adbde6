"""An airbench94-class network (Keller Jordan, 2024) with a channel-attention host after each
conv group: the fast CIFAR-10 recipe near its plateau, on which the pooling swap is tested.

Written from the published description::

    2x2 patch-whitening conv (frozen weights, 2 * C * 4 channels, trainable bias) -> GELU
    3 conv groups of widths 64 / 256 / 256, each
        conv3x3 -> maxpool 2 -> BN -> GELU -> conv3x3 -> BN -> GELU -> attention host
    global max pool -> linear (no bias) -> x 1/9

BatchNorms have no trainable scale (fixed at 1), a fast running-statistics momentum and a
tiny eps; convolutions start from the identity (dirac) on their first input-many filters.
The whitening weights come from the eigenvectors of the covariance of 2x2 patches of the
run's own training images (:func:`fit_whitening`), each eigenvector in both signs.  The
training recipe (lookahead, alternating flips, TTA, ...) is ``PRESETS["airbench"]`` in
:mod:`spe_analysis.training.config`.
"""
from __future__ import annotations

import torch
from torch import nn

WIDTHS = (64, 256, 256)
WHITEN_KERNEL = 2
BN_MOMENTUM = 0.4  # torch's convention: airbench's running-average momentum 0.6 = 1 - 0.4
BN_EPS = 1e-12
LOGIT_SCALE = 1 / 9
WHITEN_EPS = 5e-4  # added to the patch covariance's eigenvalues before dividing by their root
WHITEN_IMAGES = 5000  # the first images of the training set give the patch covariance


def whiten_width(in_channels: int) -> int:
    return 2 * in_channels * WHITEN_KERNEL ** 2


class BatchNorm(nn.BatchNorm2d):
    """BatchNorm with the scale fixed at 1 and only the shift trained."""

    def __init__(self, channels: int):
        super().__init__(channels, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.weight.requires_grad_(False)


def dirac_conv(in_channels: int, out_channels: int) -> nn.Conv2d:
    """3x3 'same' convolution whose first ``in_channels`` filters start as the identity."""
    conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
    with torch.no_grad():
        nn.init.dirac_(conv.weight[:in_channels])
    return conv


class ConvGroup(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int, attention):
        super().__init__(dirac_conv(in_channels, out_channels), nn.MaxPool2d(2), BatchNorm(out_channels),
                         nn.GELU(), dirac_conv(out_channels, out_channels), BatchNorm(out_channels),
                         nn.GELU(), attention(out_channels))


class PatchWhitening(nn.Conv2d):
    """The first layer: a 2x2 convolution whose frozen weights whiten image patches."""

    def __init__(self, in_channels: int):
        super().__init__(in_channels, whiten_width(in_channels), WHITEN_KERNEL, bias=True)
        self.weight.requires_grad_(False)


@torch.no_grad()
def fit_whitening(layer: PatchWhitening, images: torch.Tensor) -> None:
    """Set ``layer``'s weights so that its outputs on the patches of ``images`` (the first
    WHITEN_IMAGES) have unit variance along every principal direction, in both signs."""
    c, (h, w) = layer.in_channels, layer.kernel_size
    patches = images[:WHITEN_IMAGES].float().unfold(2, h, 1).unfold(3, w, 1)  # B, C, H', W', h, w
    flat = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * h * w)
    covariance = flat.T @ flat / len(flat)
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)  # ascending
    order = eigenvalues.argsort(descending=True)
    scaled = (eigenvectors[:, order] / (eigenvalues[order] + WHITEN_EPS).sqrt()).T.reshape(-1, c, h, w)
    layer.weight.copy_(torch.cat((scaled, -scaled)))


class AirbenchNet(nn.Module):
    def __init__(self, num_classes: int, in_channels: int, attention, widths=WIDTHS):
        super().__init__()
        self.whiten = PatchWhitening(in_channels)
        self.activation = nn.GELU()
        channels = [self.whiten.out_channels, *widths]
        self.groups = nn.Sequential(*(ConvGroup(a, b, attention) for a, b in zip(channels, channels[1:])))
        self.pool = nn.AdaptiveMaxPool2d(1)  # airbench's MaxPool2d(3) on its final 3x3 map
        self.head = nn.Linear(widths[-1], num_classes, bias=False)

    def forward(self, x):
        x = self.groups(self.activation(self.whiten(x)))
        return self.head(torch.flatten(self.pool(x), 1)) * LOGIT_SCALE

    def prepare(self, train_images: torch.Tensor) -> None:
        """Data-dependent initialisation from the run's training images (before training)."""
        fit_whitening(self.whiten, train_images)

    def set_epoch(self, epoch: int, whiten_bias_epochs: int) -> None:
        """Train the whitening bias for the first ``whiten_bias_epochs`` epochs, then freeze it."""
        self.whiten.bias.requires_grad_(epoch <= whiten_bias_epochs)

    def bias_parameters(self) -> list[nn.Parameter]:
        """The BatchNorm shifts, which the recipe trains at a scaled learning rate."""
        return [m.bias for m in self.modules() if isinstance(m, BatchNorm)]
