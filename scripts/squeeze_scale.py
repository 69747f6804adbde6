"""Where log-sum-exp pooling sits between avg and max on the SE input of a CIFAR SE-ResNet-20.

lse_r(x) = (1/r) log mean exp(r x) is avg as r -> 0 and max as r -> infinity; where in between
it sits depends on the spatial spread of each channel map.  This hooks every SE host's input
(the last BatchNorm's output before the residual add, in training mode as SE sees it) on a few
CIFAR-10 batches, at initialisation and after a short stretch of training, and prints the
per-map spread and the position f(r) = (lse_r - avg) / (max - avg), median over all maps,
so the temperatures of the committed squeeze sweep can be read off (README, "Is average
pooling special?").

    python3 scripts/squeeze_scale.py [--steps 150] [--batches 4]
"""
from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F

from spe_analysis.attention import SE
from spe_analysis.training.config import resolve_config
from spe_analysis.data import load_dataset
from spe_analysis.models import make_model
from spe_analysis.pooling import make_pool
from spe_analysis.training.run import make_splits

DATASET = "imagefolder:../shared/data/cifar10-jpeg.tar.gz"
TEMPERATURES = np.geomspace(0.05, 100, 45)
POSITIONS = (0.1, 0.5, 0.9)


def se_inputs(model, x) -> list[torch.Tensor]:
    """The input of every SE host for batch ``x``, in depth order (training-mode BatchNorm)."""
    seen = []
    hooks = [m.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().float()))
             for m in model.modules() if isinstance(m, SE)]
    model.train()
    with torch.no_grad():
        model(x)
    for hook in hooks:
        hook.remove()
    return seen


def describe(maps: list[torch.Tensor], label: str) -> None:
    sd = torch.cat([m.std((2, 3)).flatten() for m in maps])
    reach = torch.cat([(m.amax((2, 3)) - m.mean((2, 3))).flatten() for m in maps])
    position = []
    for r in TEMPERATURES:
        pool = make_pool(f"lse:{r}")
        fractions = []
        for m in maps:
            avg, top = m.mean((2, 3)), m.amax((2, 3))
            fractions.append(((pool(m)[..., 0, 0] - avg) / (top - avg).clamp(min=1e-6)).flatten())
        position.append(torch.cat(fractions).median().item())
    print(f"{label}: per-map spatial sd median {sd.median():.3f} (quartiles {sd.quantile(0.25):.3f}-"
          f"{sd.quantile(0.75):.3f}); max - mean median {reach.median():.3f}")
    for target in POSITIONS:
        r = np.interp(target, position, TEMPERATURES)
        print(f"  f(r) = {target:.1f} at r ~ {r:.2f}")
    print("  r: " + "  ".join(f"{r:g}->{f:.2f}" for r, f in zip(TEMPERATURES[::4], position[::4])))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150, help="SGD steps of training before the second look")
    parser.add_argument("--batches", type=int, default=4, help="batches of 128 images to look at")
    args = parser.parse_args()
    torch.manual_seed(0)
    config = resolve_config(dataset=DATASET, train_subset=20000, epochs=6, precision="fp32")
    train, _, _ = make_splits(config, load_dataset(DATASET), torch.device("cpu"))
    model = make_model("resnet20", num_classes=10, attention="se", pool="avg")
    batches = [train.x[i * 128:(i + 1) * 128] for i in range(args.batches)]
    describe([m for x in batches for m in se_inputs(model, x)], "initial")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    order = torch.randperm(len(train.y))
    for step in range(args.steps):
        index = order[(step * 128) % len(order):][:128]
        loss = F.cross_entropy(model(train.x[index]), train.y[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    describe([m for x in batches for m in se_inputs(model, x)], f"after {args.steps} steps (loss {loss.item():.2f})")


if __name__ == "__main__":
    main()
