"""Cost of mix pooling (alpha * max + beta * min) relative to average pooling, CPU.

Forward plus backward of one (256, 16, 32, 32) tensor, the two pools interleaved in one
process and the median taken, so machine load affects both alike.  Goal: ratio <= 2.
Also prints the naive ``alpha * amax + beta * amin`` for scale.

    python3 benchmarks/bench_pooling.py [--reps 30]
"""
import argparse
import functools

import torch

from interleave import interleaved_medians
from spe_analysis.pooling import make_pool


def forward_backward(pool, x, grad_out):
    x.grad = None
    pool(x).backward(grad_out)


def naive_mix(x):
    return 0.5 * x.amax((2, 3), keepdim=True) + 0.5 * x.amin((2, 3), keepdim=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=30, help="timed repetitions per pool")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (timing is CPU time of this process, so "
                             "other jobs on a shared machine disturb it less)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(256, 16, 32, 32, requires_grad=True)
    grad_out = torch.randn(256, 16, 1, 1)
    pools = {"avg": make_pool("avg"), "mix": make_pool("mix", alpha=0.5, beta=0.5),
             "naive amax+amin": naive_mix}
    median = interleaved_medians({name: functools.partial(forward_backward, pool, x, grad_out)
                                  for name, pool in pools.items()}, args.reps, warmup=3)
    print(f"x {tuple(x.shape)} float32, {torch.get_num_threads()} threads, "
          f"median of {args.reps} interleaved forward+backward")
    for name, seconds in median.items():
        print(f"  {name:16s} {seconds * 1e3:8.3f} ms  ({seconds / median['avg']:.2f}x avg)")
    print(f"ratio mix/avg = {median['mix'] / median['avg']:.2f}  (goal <= 2)")


if __name__ == "__main__":
    main()
