"""Side-by-side timing for the benchmarks: the variants take turns in one process and the
median time of each is kept, so load on a shared machine falls on all of them alike.

On a CPU the clock is this process's CPU time (other jobs on a shared machine disturb it
less); on CUDA it is wall time with the device synchronised, since kernels run
asynchronously and cost the host almost no CPU time.
"""
import argparse
import statistics
import time
from typing import Callable

import torch


def add_device_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="where to run (default: cpu)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1 avoids the collapse of 2 threads on a busy 2-core box)")


def setup_device(args: argparse.Namespace) -> torch.device:
    """Apply --threads and --device; refuse cuda where there is none."""
    torch.set_num_threads(args.threads)
    if args.device == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("--device cuda: no CUDA device here")
        torch.backends.cudnn.benchmark = True
    return torch.device(args.device)


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    return f"CPU, {torch.get_num_threads()} torch threads, torch {torch.__version__}"


def interleaved_medians(variants: dict[str, Callable[[], None]], reps: int, warmup: int = 2,
                        device: torch.device = torch.device("cpu")) -> dict[str, float]:
    """Median seconds of each variant over ``reps`` rounds, after ``warmup`` rounds."""
    cuda = device.type == "cuda"
    clock = time.perf_counter if cuda else time.process_time
    times = {name: [] for name in variants}
    for rep in range(warmup + reps):
        for name, run in variants.items():
            if cuda:
                torch.cuda.synchronize(device)
            start = clock()
            run()
            if cuda:
                torch.cuda.synchronize(device)
            if rep >= warmup:
                times[name].append(clock() - start)
    return {name: statistics.median(t) for name, t in times.items()}
