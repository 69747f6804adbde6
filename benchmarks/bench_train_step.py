"""Cost of mix pooling inside SE-ResNet-20 training, relative to average pooling, CPU.

One SGD step (forward, cross-entropy, backward, update) at batch 128 on 32x32 input; the
two models (same initial weights apart from the pool) take turns in one process and the
median step time is compared.  Goal: ratio <= 1.05.

    python3 benchmarks/bench_train_step.py [--reps 10] [--batch 128]
"""
import argparse
import functools

import torch
from torch import nn

from interleave import interleaved_medians
from spe_analysis.models import make_model


def sgd_step(model, optimizer, x, y):
    optimizer.zero_grad(set_to_none=True)
    nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=10, help="timed steps per model")
    parser.add_argument("--batch", type=int, default=128, help="images per step")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (timing is CPU time of this process, so "
                             "other jobs on a shared machine disturb it less)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    x = torch.randn(args.batch, 3, 32, 32)
    y = torch.randint(0, 10, (args.batch,))
    steps = {}
    for pool, kw in (("avg", {}), ("mix", {"alpha": 0.5, "beta": 0.5})):
        torch.manual_seed(0)
        model = make_model("resnet20", attention="se", pool=pool, **kw)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
        steps[pool] = (model, optimizer)
    median = interleaved_medians({pool: functools.partial(sgd_step, model, optimizer, x, y)
                                  for pool, (model, optimizer) in steps.items()}, args.reps)
    print(f"SE-ResNet-20, batch {args.batch}, 32x32, {torch.get_num_threads()} threads, "
          f"median of {args.reps} interleaved SGD steps")
    for pool, seconds in median.items():
        print(f"  pool {pool:4s} {seconds * 1e3:9.1f} ms/step")
    print(f"ratio mix/avg = {median['mix'] / median['avg']:.3f}  (goal <= 1.05)")


if __name__ == "__main__":
    main()
