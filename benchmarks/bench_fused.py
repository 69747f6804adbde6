"""Runs per hour of the committed CIFAR-10 recipe, fused (``spe sweep --fuse K``) against unfused.

The recipe of figures/data/cifar10-se-resnet20/sweep.toml (SE-ResNet-20, batch 128, 32x32,
its precision, 20,000 images x 6 epochs per run): one SGD step (forward, the runs' summed
cross-entropy, backward, update) of K runs fused into one model, with each kernel layout of
spe_analysis.models.fused (``split``: each run's own kernels, what ``spe sweep --fuse K`` uses on
CPUs; ``grouped``: one grouped kernel for K runs, what it uses on GPUs), against one step of
one unfused run, taking turns in one process.  Today's best unfused layout is one run per worker:
on a CPU one single-threaded process per core (so one thread here stands for one core, and
the ratio holds for the whole machine); on CUDA four processes share a GPU (measured 2.47x
the runs per hour of one on an H200, REFERENCE.md), which one process cannot reproduce, so
that factor is quoted beside the ratio.  Prints img/s per K, runs per hour, the ratio to
unfused, and the share of the device's peak (model FLOPs counted by torch) where known.

    python3 benchmarks/bench_fused.py [--device cpu|cuda] [--fuse 1,2,4] [--kernels split,grouped]
                                      [--reps 3] [--threads 1]
"""
from __future__ import annotations

import argparse
import tomllib
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from interleave import add_device_options, describe, interleaved_medians, setup_device
from spe_analysis.models.fused import KERNELS, fuse_models
from spe_analysis.models import make_model

RECIPE = Path(__file__).resolve().parents[1] / "figures/data/cifar10-se-resnet20/sweep.toml"
UNFUSED_PER_GPU = 2.47  # four workers sharing an H200 against one (REFERENCE.md)
# Dense peak FLOP/s by device name, (bf16 tensor cores, fp32): vendors' data sheets (SXM).
PEAKS = {"H200": (989e12, 67e12), "H100": (989e12, 67e12), "A100": (312e12, 19.5e12)}


def recipe() -> dict:
    spec = tomllib.loads(RECIPE.read_text())
    return {"model": spec["model"], "attention": spec["attention"], "batch": spec["batch_size"],
            "images": spec["train_subset"] * spec["epochs"], "bf16": spec["precision"] == "bf16"}


def build(k: int, kernels: str, r: dict, device):
    models = [make_model(r["model"], attention=r["attention"], pool=pool, alpha=a, beta=b)
              for pool, a, b in [("mix", 0.5, 0.5)] * k]
    model = models[0] if k == 1 else fuse_models(models, kernels)
    return model.to(device, memory_format=torch.channels_last)


def step(model, optimizer, x, y, bf16: bool) -> None:
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
        logits = model(x).float()
        # The mean over runs and images: the summed loss's gradient up to a constant.
        loss = F.cross_entropy(logits.flatten(0, -2), y.flatten())
    loss.backward()
    optimizer.step()


def peak(device) -> tuple[float, float] | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((p for key, p in PEAKS.items() if key in name), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fuse", default=None, help="K values, comma list; 1 (unfused) always runs "
                        "(default: 2,4 on CPU, 4,8,16,32 on CUDA, as memory allows)")
    parser.add_argument("--kernels", default=",".join(KERNELS), help="fused kernel layouts, comma list "
                        f"(default: {','.join(KERNELS)})")
    parser.add_argument("--reps", type=int, default=None, help="timed steps per K (default: 3 CPU, 30 CUDA)")
    add_device_options(parser)
    args = parser.parse_args()
    device = setup_device(args)
    cuda = device.type == "cuda"
    ks = sorted({1, *(int(k) for k in (args.fuse or ("4,8,16,32" if cuda else "2,4")).split(","))})  # 1: unfused
    reps = args.reps or (30 if cuda else 3)
    r = recipe()
    print(f"# {describe(device)}; recipe {RECIPE.parent.name}: {r['attention']}-{r['model']}, batch {r['batch']}, "
          f"{'bf16' if r['bf16'] else 'fp32'}, {r['images']} training images per run")
    layouts = [(k, kernels) for k in ks for kernels in (["unfused"] if k == 1 else args.kernels.split(","))]
    variants, images, flops = {}, {}, {}
    for k, kernels in layouts:
        try:
            model = build(k, kernels, r, device)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
            shape = (r["batch"], 3, 32, 32) if k == 1 else (k, r["batch"], 3, 32, 32)
            x = torch.randn(shape, device=device)
            x = x.contiguous(memory_format=torch.channels_last) if k == 1 else x
            y = torch.randint(0, 10, shape[:-3], device=device)
            with FlopCounterMode(display=False) as counter:
                step(model, optimizer, x, y, r["bf16"])
            if cuda:
                torch.cuda.synchronize(device)
        except torch.OutOfMemoryError:
            print(f"K={k} {kernels}: out of memory, skipped")
            break
        variants[k, kernels] = lambda model=model, optimizer=optimizer, x=x, y=y: step(model, optimizer, x, y,
                                                                                      r["bf16"])
        images[k, kernels], flops[k, kernels] = k * r["batch"], counter.get_total_flops()
    seconds = interleaved_medians(variants, reps, warmup=1 if not cuda else 5, device=device)
    base = images[layouts[0]] / seconds[layouts[0]]
    device_peak = peak(device)
    print("K   kernels   step ms    img/s   runs/hour/worker   vs unfused   share of peak")
    for (k, kernels), s in seconds.items():
        rate = images[k, kernels] / s
        share = (f"{flops[k, kernels] / s / device_peak[0 if r['bf16'] else 1]:.1%}" if device_peak
                 else "unknown")
        print(f"{k:<3} {kernels:<8} {1000 * s:8.1f} {rate:8.0f}   {3600 * rate / r['images']:16.2f}   "
              f"{rate / base:9.2f}x   {share}")
    if cuda:
        best = max(images[v] / seconds[v] for v in seconds) / base
        print(f"best fused / four unfused workers per GPU (x{UNFUSED_PER_GPU} of one, REFERENCE.md): "
              f"{best / UNFUSED_PER_GPU:.2f}x")


if __name__ == "__main__":
    main()
