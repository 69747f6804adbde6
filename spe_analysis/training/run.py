"""A run (or a group of runs trained as one model) start to finish: the device, the data,
the loop, and each run's ``spe.run/1`` record written atomically."""
from __future__ import annotations

import os
from typing import Any

import torch

from ..data import load_dataset, select_splits
from ..errors import SpeError, choose
from ..names import DEVICES
from ..records import utc_now, write_record
from .config import RunConfig
from .groups import check_group, group_order
from .loop import Progress, Split, fit
from .outcome import Outcome, make_record


def pick_device(name: str = "auto") -> torch.device:
    """Resolve ``auto`` to the best available device; refuse one that is not there."""
    choose("device", name, DEVICES)
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()}
    if name == "auto":
        name = next(d for d in ("cuda", "mps", "cpu") if available[d])
    if not available[name]:
        raise SpeError(f"device {name!r} is not available here; use --device cpu or auto")
    return torch.device(name)


def setup_torch(device: str, deterministic: bool, threads: int | None) -> torch.device:
    """The device for ``device``, with torch's threads and determinism set for training."""
    dev = pick_device(device)
    if threads:
        torch.set_num_threads(threads)
    if deterministic and dev.type == "cuda":
        # cuBLAS is only reproducible with a fixed workspace, set before its first use.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(deterministic)
    torch.backends.cudnn.benchmark = not deterministic
    return dev


def make_splits(config: RunConfig, data, dev: torch.device) -> tuple[Split, Split, Split | None]:
    """(train, test, validation or None) of ``data`` on the device, as ``config`` selects them."""
    train_x, train_y, val_x, val_y = select_splits(data, config.train_subset, config.val_split)
    train, test = (Split.make(x, y, data.mean, data.std, dev) for x, y in
                   ((train_x, train_y), (data.test_x, data.test_y)))
    return train, test, Split.make(val_x, val_y, data.mean, data.std, dev) if val_x is not None else None


def train_group(configs: list[RunConfig], out_dir, *, device: str = "auto", data_dir: str | None = None,
                deterministic: bool = False, threads: int | None = None,
                on_progress: Progress | None = None) -> list[dict[str, Any]]:
    """Train ``configs`` as one model (fused when more than one) and write each run's
    ``spe.run/1`` record (``env.fused`` = how many trained together); the records, in the
    order given.

    Bad input (SpeError) propagates; any other exception inside training becomes a ``failed``
    record of every run of the group, so a sweep can go on.
    """
    dev = setup_torch(device, deterministic, threads)
    check_group(configs)
    ordered = sorted(configs, key=group_order) if len(configs) > 1 else list(configs)
    data = load_dataset(ordered[0].dataset, data_dir)
    started_at = utc_now()
    outcomes, error = [Outcome() for _ in ordered], None
    try:
        splits = make_splits(ordered[0], data, dev)

        def progress(event: dict[str, Any]) -> None:
            k = event.pop("run")
            on_progress({"run_id": ordered[k].run_id, **event})

        outcomes = fit(ordered, *splits, len(data.classes), dev, progress if on_progress else None)
    except SpeError:
        raise
    except Exception as exc:  # recorded, not raised: one bad run must not stop a sweep
        error = f"{type(exc).__name__}: {exc}"
        for outcome in outcomes:
            outcome.status = "failed"
    records = {c.run_id: make_record(c, o, str(dev), started_at, error, fused=len(ordered))
               for c, o in zip(ordered, outcomes)}
    for record in records.values():
        write_record(out_dir, record)
    return [records[c.run_id] for c in configs]


def train_run(config: RunConfig, out_dir, **options: Any) -> dict[str, Any]:
    """Train one run (a group of one) and write its ``spe.run/1`` record into ``out_dir/runs``;
    the options as :func:`train_group`'s."""
    return train_group([config], out_dir, **options)[0]
