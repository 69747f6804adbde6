"""Cost of each pool relative to average pooling: mix (alpha * max + beta * min) and the squeeze
statistics lse, gem, meanstd, dct and avgmax.

Forward plus backward of one (256, 16, 32, 32) tensor, every pool interleaved in one process
and the median taken, so machine load affects all alike.  Goal for mix: ratio <= 2.  Also
prints the naive ``alpha * amax + beta * amin`` for scale.

    python3 benchmarks/bench_pooling.py [--reps 30] [--device cpu|cuda] [--threads 1]
"""
import argparse
import functools

import torch

from interleave import add_device_options, describe, interleaved_medians, setup_device
from spe_analysis.pooling import make_pool


def forward_backward(pool, x, grad_out):
    x.grad = None
    pool(x).backward(grad_out)


def naive_mix(x):
    return 0.5 * x.amax((2, 3), keepdim=True) + 0.5 * x.amin((2, 3), keepdim=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=30, help="timed repetitions per pool")
    add_device_options(parser)
    args = parser.parse_args()
    device = setup_device(args)
    torch.manual_seed(0)
    pools = {"avg": make_pool("avg"), "mix": make_pool("mix", alpha=0.5, beta=0.5),
             "naive amax+amin": naive_mix,
             **{label: make_pool(label) for label in ("avgmax", "lse:4", "gem:3", "meanstd:1", "dct")}}
    grad_out = torch.randn(256, 16, 1, 1, device=device)
    print(f"x (256, 16, 32, 32) float32, {describe(device)}, median of {args.reps} interleaved forward+backward")
    # channels_last is the layout spe train's models run in.
    for layout in (torch.contiguous_format, torch.channels_last):
        x = torch.randn(256, 16, 32, 32, device=device).contiguous(memory_format=layout).requires_grad_()
        median = interleaved_medians({name: functools.partial(forward_backward, pool, x, grad_out)
                                      for name, pool in pools.items()}, args.reps, warmup=3, device=device)
        print(f"{str(layout).removeprefix('torch.')}:")
        for name, seconds in median.items():
            print(f"  {name:16s} {seconds * 1e3:8.3f} ms  ({seconds / median['avg']:.2f}x avg)")
        print(f"  ratio mix/avg = {median['mix'] / median['avg']:.2f}  (goal <= 2)")


if __name__ == "__main__":
    main()
