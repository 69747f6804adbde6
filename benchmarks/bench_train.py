"""End-to-end training throughput: `spe train`'s loop against the standard recipe.

The reference is what most CIFAR code does: a torchvision Dataset of PIL images,
RandomCrop(32, padding=4) + RandomHorizontalFlip + ToTensor + Normalize, and a DataLoader.
Same model (SE-ResNet-20), same images, same batch size, same optimiser; the two loops
alternate in one process and the ratio of their median images/s is printed.

    python3 benchmarks/bench_train.py [--images 5000] [--repeats 3] [--threads 1] [--device cpu|cuda]
        [--data ../shared/data/cifar10-jpeg.tar.gz]
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision.transforms as T
from PIL import Image

from interleave import add_device_options, describe, setup_device
from spe_analysis.training.config import resolve_config
from spe_analysis.data import load_dataset, select_splits
from spe_analysis.models import make_model
from spe_analysis.training.loop import Split, fit

CIFAR = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-jpeg.tar.gz"


class PILDataset(torch.utils.data.Dataset):
    """Images kept as PIL, transformed one at a time, as torchvision.datasets.CIFAR10 does."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform):
        self.images = [Image.fromarray(img.permute(1, 2, 0).numpy()) for img in images]
        self.labels = labels.tolist()
        self.transform = transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.transform(self.images[i]), self.labels[i]


def reference_epoch(config, images, labels, mean, std, workers: int, device: torch.device) -> float:
    """One epoch of the standard recipe; returns images per second of the training loop."""
    transform = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(),
                           T.Normalize(mean, std)])
    loader = torch.utils.data.DataLoader(PILDataset(images, labels, transform), batch_size=config.batch_size,
                                         shuffle=True, drop_last=True, num_workers=workers,
                                         pin_memory=device.type == "cuda")
    torch.manual_seed(config.seed)
    model = make_model(config.model, num_classes=10, attention=config.attention, pool=config.pool).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                          nesterov=config.nesterov, weight_decay=config.weight_decay)
    model.train()
    seen, start = 0, time.perf_counter()
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        loss = F.cross_entropy(model(x), y, label_smoothing=config.label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        seen += len(y)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return seen / (time.perf_counter() - start)


def spe_epoch(config, images, labels, data, device: torch.device) -> float:
    train = Split.make(images, labels, data.mean, data.std, device)
    test = Split.make(data.test_x[:1000], data.test_y[:1000], data.mean, data.std, device)
    outcome, = fit([config], train, test, None, 10, device)
    return outcome.images_seen / outcome.train_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=CIFAR, help=f"CIFAR-10 as JPEG (default: {CIFAR})")
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2],
                        help="DataLoader worker counts to try for the reference; the best is compared")
    add_device_options(parser)
    args = parser.parse_args()
    device = setup_device(args)
    dataset = f"imagefolder:{args.data}"
    data = load_dataset(dataset)
    images, labels, _, _ = select_splits(data, args.images, None)
    config = resolve_config(dataset=dataset, attention="se", pool="avg", epochs=1,
                            train_subset=args.images)
    ours = {p: [] for p in ("fp32", "bf16")}
    refs = {w: [] for w in args.workers}
    for _ in range(args.repeats):
        for w in args.workers:
            refs[w].append(reference_epoch(config, images, labels, data.mean, data.std, w, device))
        for precision, values in ours.items():
            values.append(spe_epoch(dataclasses.replace(config, precision=precision), images, labels, data,
                                   device))
    best = max(statistics.median(v) for v in refs.values())
    for w, values in refs.items():
        print(f"reference DataLoader(num_workers={w}):  {statistics.median(values):8.1f} img/s")
    for precision, values in ours.items():
        print(f"spe train loop, --precision {precision}:  {statistics.median(values):8.1f} img/s"
              f"   ratio to the best reference: {statistics.median(values) / best:.2f}x")
    print(f"(target >= 1.3x; {describe(device)}; the reference is fp32)")


if __name__ == "__main__":
    main()
