"""SE-airbench against SE-ResNet-20 on this CPU: images per second, share of the CPU's peak
(bf16 where it has native bf16, else fp32), and projected minutes per run.

Each network's SGD step (channels_last; bf16 autocast where the CPU has native bf16, as
``--precision auto`` trains, else fp32) at its recipe's batch size, and a large matrix product
in the same precision, the measured peak, take turns in one process (``interleave.py``: CPU
time, so load elsewhere on a shared machine falls on all alike).  FLOPs per image come from torch's FLOP counter (2 per
multiply-add, forward and backward).  Projected minutes per run: 50,000 training images per
epoch plus the test passes of the recipe (10,000 images per epoch; airbench's final TTA six
times more), at the measured rate on ``--threads`` threads.

    python3 benchmarks/bench_airbench.py [--reps 5] [--threads 1] [--epochs 10]
"""
import argparse
import functools

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from interleave import add_device_options, describe, interleaved_medians, setup_device
from spe_analysis.models import make_model
from spe_analysis.training.precision import uses_bf16

NETWORKS = {"SE-airbench": ("airbench", 1024), "SE-ResNet-20": ("resnet20", 128)}
GEMM = 2048
TRAIN_IMAGES, TEST_IMAGES, TTA_VIEWS = 50_000, 10_000, 6


BF16 = uses_bf16("auto", "cpu")


def sgd_step(model, optimizer, x, y):
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=BF16):
        loss = nn.functional.cross_entropy(model(x).float(), y)
    loss.backward()
    optimizer.step()


@torch.inference_mode()
def forward(model, x):
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=BF16):
        model(x)


def train_flops_per_image(model, x, y) -> float:
    with FlopCounterMode(display=False) as counter:
        nn.functional.cross_entropy(model(x).float(), y).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / len(x)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="timed rounds")
    parser.add_argument("--epochs", type=int, default=10, help="epochs of the projected run")
    add_device_options(parser)
    args = parser.parse_args()
    device = setup_device(args)
    if device.type != "cpu":
        raise SystemExit("this benchmark measures the CPU; see gpu.sh for CUDA")
    variants, flops, batches, evals = {}, {}, {}, {}
    for label, (name, batch) in NETWORKS.items():
        torch.manual_seed(0)
        model = make_model(name, attention="se").to(memory_format=torch.channels_last)
        x = torch.randn(batch, 3, 32, 32).contiguous(memory_format=torch.channels_last)
        y = torch.randint(0, 10, (batch,))
        flops[label] = train_flops_per_image(model, x[:8], y[:8])
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        variants[label] = functools.partial(sgd_step, model, optimizer, x, y)
        evals[label] = functools.partial(forward, model, x)
        batches[label] = batch
    precision = "bf16" if BF16 else "fp32"
    a = torch.randn(GEMM, GEMM, dtype=torch.bfloat16 if BF16 else torch.float32)
    variants["bf16 GEMM"] = functools.partial(torch.mm, a, a)
    median = interleaved_medians({**variants, **{f"{k} eval": v for k, v in evals.items()}}, args.reps)
    peak = 2 * GEMM ** 3 / median["bf16 GEMM"]
    print(f"{describe(device)}, {precision}, channels_last, median of {args.reps} interleaved rounds")
    print(f"measured {precision} peak ({GEMM}^3 matrix product): {peak / 1e9:.1f} GFLOP/s per process")
    print(f"{'network':14s} {'batch':>5s} {'GFLOP/img':>9s} {'img/s':>7s} {'share of peak':>13s} "
          f"{'min/run':>8s}")
    for label in NETWORKS:
        rate = batches[label] / median[label]
        eval_rate = batches[label] / median[f"{label} eval"]
        tests = TEST_IMAGES * (args.epochs + (TTA_VIEWS if label == "SE-airbench" else 0))
        minutes = (TRAIN_IMAGES * args.epochs / rate + tests / eval_rate) / 60
        share = rate * flops[label] / peak
        print(f"{label:14s} {batches[label]:5d} {flops[label] / 1e9:9.3f} {rate:7.0f} {share:13.1%} "
              f"{minutes:8.1f}")
    ratio = (batches["SE-airbench"] / median["SE-airbench"]) / (batches["SE-ResNet-20"] / median["SE-ResNet-20"])
    print(f"images per second, airbench / ResNet-20: {ratio:.2f}x; "
          f"FLOPs per image: {flops['SE-airbench'] / flops['SE-ResNet-20']:.2f}x")


if __name__ == "__main__":
    main()
