"""Cost of mix pooling inside SE-ResNet-20 training, relative to average pooling.

One SGD step (forward, cross-entropy, backward, update) at batch 128 on 32x32 input; the
two models (same initial weights apart from the pool) take turns in one process and the
median step time is compared.  Goal: ratio <= 1.05.  ``--precision bf16`` autocasts the
step as ``spe train --precision bf16`` does (the default on CUDA).

    python3 benchmarks/bench_train_step.py [--reps 10] [--batch 128] [--device cpu|cuda]
        [--precision fp32|bf16]
"""
import argparse
import functools

import torch
from torch import nn

from interleave import add_device_options, describe, interleaved_medians, setup_device
from spe_analysis.models import make_model


def sgd_step(model, optimizer, x, y, bf16: bool):
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
        loss = nn.functional.cross_entropy(model(x).float(), y)
    loss.backward()
    optimizer.step()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=10, help="timed steps per model")
    parser.add_argument("--batch", type=int, default=128, help="images per step")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    add_device_options(parser)
    args = parser.parse_args()
    device = setup_device(args)
    x = torch.randn(args.batch, 3, 32, 32, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (args.batch,), device=device)
    steps = {}
    for pool, kw in (("avg", {}), ("mix", {"alpha": 0.5, "beta": 0.5})):
        torch.manual_seed(0)
        model = make_model("resnet20", attention="se", pool=pool, **kw)
        model = model.to(device, memory_format=torch.channels_last)  # as spe train runs it
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
        steps[pool] = (model, optimizer)
    bf16 = args.precision == "bf16"
    median = interleaved_medians({pool: functools.partial(sgd_step, model, optimizer, x, y, bf16)
                                  for pool, (model, optimizer) in steps.items()}, args.reps, device=device)
    print(f"SE-ResNet-20, batch {args.batch}, 32x32, {args.precision}, {describe(device)}, "
          f"median of {args.reps} interleaved SGD steps")
    for pool, seconds in median.items():
        print(f"  pool {pool:4s} {seconds * 1e3:9.1f} ms/step")
    print(f"ratio mix/avg = {median['mix'] / median['avg']:.3f}  (goal <= 1.05)")


if __name__ == "__main__":
    main()
