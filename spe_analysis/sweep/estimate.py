"""How long the rest of a sweep will take: from the runs already finished, else from a quick
timing run (one epoch on a few batches, in a temporary directory, so nothing is written)."""
from __future__ import annotations

import datetime as _dt
import tempfile
from dataclasses import dataclass, replace

from ..training.config import RunConfig
from .runner import Plan, Trainer

QUICK_IMAGES = 512  # train images of the timing run: a few batches, seconds even on a CPU


@dataclass
class Estimate:
    seconds_per_run: float | None
    source: str  # how the figure was obtained, for the reader
    runs_left: int
    slots: int

    @property
    def seconds_left(self) -> float | None:
        if self.seconds_per_run is None:
            return None
        return self.seconds_per_run * -(-self.runs_left // self.slots)  # whole waves of runs


def _timestamp(text: str) -> float:
    return _dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=_dt.timezone.utc).timestamp()


def wall_seconds(record: dict) -> float | None:
    """Seconds from a record's ``started_at`` to its ``finished_at`` (one-second resolution)."""
    try:
        return _timestamp(record["finished_at"]) - _timestamp(record["started_at"])
    except (KeyError, TypeError, ValueError):
        return None


def record_seconds(record: dict) -> float | None:
    """A finished run's duration: its wall-clock span, or its training time when longer."""
    wall = wall_seconds(record)
    train = (record.get("metrics") or {}).get("train_seconds")
    known = [s for s in (wall, train) if isinstance(s, (int, float))]
    return max(known) if known else None


def train_images(config: RunConfig, data_dir: str | None) -> int:
    from ..data import load_dataset, select_splits

    data = load_dataset(config.dataset, data_dir)
    return len(select_splits(data, config.train_subset, config.val_split)[1])


def quick_timing(config: RunConfig, device: str, data_dir: str | None, threads: int | None,
                 trainer: Trainer | None) -> float:
    """Seconds one full run of ``config`` should take, from one epoch on QUICK_IMAGES images."""
    if trainer is None:
        from ..training import train_run as trainer
    n_train = train_images(config, data_dir)
    probe = replace(config, epochs=1, train_subset=min(n_train, QUICK_IMAGES), val_split=None, tta=None)
    with tempfile.TemporaryDirectory(prefix="spe-timing-") as tmp:
        record = trainer(probe, tmp, device=device, data_dir=data_dir, threads=threads)
    speed = (record.get("metrics") or {}).get("images_per_second")
    per_epoch = n_train / speed if speed else record_seconds(record) or 0.0
    return per_epoch * config.epochs


def estimate(plan: Plan, slots: int, retry_failed: bool = False, *, device: str = "auto",
             data_dir: str | None = None, threads: int | None = None,
             trainer: Trainer | None = None) -> Estimate:
    todo = plan.todo(retry_failed)
    durations = [s for r in plan.records.values()
                 if r and r.get("status") in ("ok", "diverged") and (s := record_seconds(r)) is not None]
    if durations:
        return Estimate(sum(durations) / len(durations),
                        f"mean of {len(durations)} finished runs", len(todo), slots)
    if not todo:
        return Estimate(None, "no finished runs to time", len(todo), slots)
    seconds = quick_timing(todo[0], device, data_dir, threads, trainer)
    return Estimate(seconds, f"quick timing of one epoch on {QUICK_IMAGES} images", len(todo), slots)
