"""Side-by-side timing for the benchmarks: the variants take turns in one process and the
median CPU time of each is kept, so load on a shared machine falls on all of them alike."""
import statistics
import time
from typing import Callable


def interleaved_medians(variants: dict[str, Callable[[], None]], reps: int,
                        warmup: int = 2) -> dict[str, float]:
    """Median CPU seconds of each variant over ``reps`` rounds, after ``warmup`` rounds."""
    times = {name: [] for name in variants}
    for rep in range(warmup + reps):
        for name, run in variants.items():
            start = time.process_time()
            run()
            if rep >= warmup:
                times[name].append(time.process_time() - start)
    return {name: statistics.median(t) for name, t in times.items()}
