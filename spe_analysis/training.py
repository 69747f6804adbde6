"""One training run, start to finish: data on the device, batch augmentation, SGD, a record.

The recipe's hyperparameters all come from :class:`~spe_analysis.config.RunConfig`; this
module only carries them out.  The reported accuracy is the final epoch's on the test set
(never the best epoch on test); with a validation split, also the test accuracy at the
best validation epoch.
"""
from __future__ import annotations

import functools
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn.functional as F

from .augment import alternate_flips, augment_batch, tta_logits
from .config import RunConfig
from .data import load_dataset, select_splits
from .errors import SpeError, choose
from .names import DEVICES
from .lookahead import Lookahead
from .models import learned_lams, make_model, pool_regularizer
from .pool_dynamics import PoolDynamics
from .pooling import config_pool
from .records import SCHEMA, environment, utc_now, write_record

Progress = Callable[[dict[str, Any]], None]


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


def lr_factor(config: RunConfig, step: int, steps_per_epoch: int) -> float:
    """Multiplier of the base learning rate at a given optimiser step."""
    epoch = step / steps_per_epoch
    if config.schedule == "multistep":
        return config.lr_gamma ** sum(epoch >= m for m in config.milestones)
    total = config.epochs * steps_per_epoch
    if config.schedule == "triangle":
        peak = config.lr_peak * total
        if step < peak:
            return config.lr_start + (1 - config.lr_start) * step / peak
        return 1 + (config.lr_end - 1) * (step - peak) / max(total - peak, 1)
    # "onecycle": linear warm-up, then linear decay to zero at the end of training.
    warm = config.warmup_epochs * steps_per_epoch
    if step < warm:
        return (step + 1) / warm
    return max(0.0, (total - step) / max(total - warm, 1))


@dataclass
class Split:
    """A normalised image tensor on the device with its labels."""
    x: torch.Tensor
    y: torch.Tensor

    @classmethod
    def make(cls, images: torch.Tensor, labels: torch.Tensor, mean, std, device) -> "Split":
        mean = torch.tensor(mean, device=device).view(1, -1, 1, 1)
        std = torch.tensor(std, device=device).view(1, -1, 1, 1)
        x = (images.to(device).float().div_(255) - mean) / std
        return cls(x.contiguous(memory_format=torch.channels_last), labels.to(device))


@dataclass
class Outcome:
    status: str = "ok"
    history: list[dict[str, Any]] = field(default_factory=list)
    train_seconds: float = 0.0
    images_seen: int = 0
    parameters: int | None = None  # the model's trainable and frozen parameters


@functools.cache  # asked at every step
def cpu_has_native_bf16() -> bool:
    """Whether this CPU has bf16 dot products in hardware (AVX512_BF16 or AMX), where bf16
    autocast trains faster than fp32 (SE-ResNet-20 step 1.44x, README "Performance")."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            flags = next((line for line in cpuinfo if line.startswith("flags")), "").split()
    except OSError:  # not Linux: only torch's own view of the CPU is left
        return torch.backends.cpu.get_cpu_capability() == "AMX"
    return "avx512_bf16" in flags or "amx_bf16" in flags


def uses_bf16(precision: str, device: str) -> bool:
    """Whether a run on ``device`` autocasts to bf16 (which, unlike fp16, needs no loss scaling):
    with ``auto``, on CUDA and on CPUs with native bf16."""
    if precision != "auto":
        return precision == "bf16"
    return device.startswith("cuda") or (device == "cpu" and cpu_has_native_bf16())


def _autocast(device: torch.device, precision: str):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=uses_bf16(precision, device.type))


@torch.inference_mode()
def evaluate(model: torch.nn.Module, split: Split, batch_size: int, device: torch.device,
             precision: str = "auto", runs: int | None = None, tta: int = 0):
    """(mean cross-entropy, accuracy in percent) on a split; for a fused model of ``runs``
    runs (:mod:`spe_analysis.fused`), a list of one such pair per run.  ``tta``: the level of
    test-time augmentation (:func:`~spe_analysis.augment.tta_logits`), unfused only."""
    model.eval()
    shape = () if runs is None else (runs,)
    loss = torch.zeros(shape, device=device)
    correct = torch.zeros(shape, device=device, dtype=torch.long)
    for start in range(0, len(split.y), batch_size):
        xb, yb = split.x[start:start + batch_size], split.y[start:start + batch_size]
        with _autocast(device, precision):
            logits = tta_logits(model, xb, tta) if runs is None else model(xb.expand(runs, *xb.shape))
        if runs is None:
            loss += F.cross_entropy(logits.float(), yb, reduction="sum")
        else:
            # Each run's sum as its own evaluation sums it (a batched reduction sums in another order).
            loss += torch.stack([F.cross_entropy(run.float(), yb, reduction="sum") for run in logits])
        correct += (logits.argmax(-1) == yb).sum(-1)
    n = len(split.y)
    if runs is None:
        return loss.item() / n, 100.0 * correct.item() / n
    return [(l / n, 100.0 * c / n) for l, c in zip(loss.tolist(), correct.tolist())]


def fit(config: RunConfig, train: Split, test: Split, val: Split | None, num_classes: int,
        device: torch.device, on_progress: Progress | None = None) -> Outcome:
    """Train a fresh model by ``config`` and evaluate it after every epoch."""
    torch.manual_seed(config.seed)  # model initialisation
    generator = torch.Generator().manual_seed(config.seed)  # data order and augmentation
    model = make_model(config.model, num_classes=num_classes, in_channels=train.x.shape[1],
                       attention=config.attention, pool=config_pool(config), alpha=config.alpha,
                       beta=config.beta).to(device, memory_format=torch.channels_last)
    if hasattr(model, "prepare"):  # data-dependent initialisation (airbench's whitening)
        model.prepare(train.x)
    outcome = Outcome(parameters=sum(p.numel() for p in model.parameters()))
    optimizer = make_optimizer(model, config)
    n = len(train.y)
    batch = min(config.batch_size, n)
    steps = n // batch  # drop the last partial batch: a batch of one breaks BatchNorm
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(config, s, steps))
    dynamics = PoolDynamics(model)
    lookahead = Lookahead(model, config.epochs * steps) if config.lookahead else None
    first_flips = (torch.rand(n, generator=generator) < 0.5) if config.flip_mode == "alternate" else None
    for epoch in range(1, config.epochs + 1):
        model.train()
        if config.whiten_bias_epochs is not None and hasattr(model, "set_epoch"):
            model.set_epoch(epoch, config.whiten_bias_epochs)
        started = time.perf_counter()
        order = torch.randperm(n, generator=generator).to(device)
        flips = None if first_flips is None else alternate_flips(first_flips, epoch)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        lr = optimizer.param_groups[0]["lr"]
        for step in range(steps):
            idx = order[step * batch:(step + 1) * batch]
            xb = augment_batch(train.x[idx], config.crop_padding, config.flip, generator,
                               config.pad_mode or "zeros", None if flips is None else flips[idx.cpu()])
            yb = train.y[idx]
            with _autocast(device, config.precision):
                logits = model(xb)
                loss = F.cross_entropy(logits.float(), yb, label_smoothing=config.label_smoothing)
                if config.pool == "learned":
                    loss = loss + config.pool_reg * pool_regularizer(model)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            dynamics.before_step()
            optimizer.step()
            dynamics.after_step()
            scheduler.step()
            if lookahead is not None:
                lookahead.after_step((epoch - 1) * steps + step + 1)
            loss_sum += loss.detach() * len(yb)
            correct += (logits.argmax(1) == yb).sum()
            # Per-step progress only where steps are slow and .item() costs no device sync.
            if on_progress is not None and device.type == "cpu":
                on_progress({"epoch": epoch, "epochs": config.epochs, "step": step + 1, "steps": steps,
                             "train_loss": loss.item()})
        train_loss = loss_sum.item() / (steps * batch)  # waits for queued GPU work: part of the epoch
        outcome.train_seconds += time.perf_counter() - started
        outcome.images_seen += steps * batch
        if not math.isfinite(train_loss):
            outcome.status = "diverged"
            break
        row = {"epoch": epoch, "train_loss": train_loss, "train_acc": 100.0 * correct.item() / (steps * batch)}
        scores = lambda split: evaluate(model, split, config.test_batch_size, device, config.precision)  # noqa: E731
        row["test_loss"], row["test_acc"] = scores(test)
        if val is not None:
            row["val_loss"], row["val_acc"] = scores(val)
        row["lr"] = lr
        if config.tta and epoch == config.epochs:  # the recipe's final evaluation
            row["test_loss_tta"], row["test_acc_tta"] = evaluate(model, test, config.test_batch_size, device,
                                                                 config.precision, tta=config.tta)
        if config.pool == "learned":
            row["lam"] = learned_lams(model)
            row.update(dynamics.epoch())
        outcome.history.append(row)
        if on_progress is not None:
            on_progress({**row, "epochs": config.epochs, "step": steps, "steps": steps,
                         "images_per_second": outcome.images_seen / outcome.train_seconds})
    return outcome


def make_optimizer(model: torch.nn.Module, config: RunConfig) -> torch.optim.SGD:
    """SGD over every parameter; with ``bias_lr_scale``, BatchNorm shifts train at that multiple
    of the learning rate and the inverse multiple of the weight decay (airbench)."""
    params = list(model.parameters())
    groups = [{"params": params}]
    if config.bias_lr_scale is not None:
        shifts = {id(m.bias) for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)}
        groups = [{"params": [p for p in params if id(p) not in shifts]},
                  {"params": [p for p in params if id(p) in shifts], "lr": config.lr * config.bias_lr_scale,
                   "weight_decay": config.weight_decay / config.bias_lr_scale}]
    return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov,
                           weight_decay=config.weight_decay)


def summarize(outcome: Outcome) -> dict[str, Any]:
    """The record's metrics from a run's history (the last epoch reached, never the best on test)."""
    last = outcome.history[-1] if outcome.history else {}
    with_val = [row for row in outcome.history if "val_acc" in row]
    best = max(with_val, key=lambda row: row["val_acc"]) if with_val else None
    tta = "test_acc_tta" in last  # then the final metrics are test-time augmented, as the recipe says
    return {
        "final_test_acc": last.get("test_acc_tta" if tta else "test_acc"),
        "final_test_loss": last.get("test_loss_tta" if tta else "test_loss"),
        **({"final_test_acc_plain": last["test_acc"]} if tta else {}),
        "best_val_acc": best["val_acc"] if best else None,
        "test_acc_at_best_val": best["test_acc"] if best else None,
        "train_seconds": outcome.train_seconds, "parameters": outcome.parameters,
        "images_per_second": outcome.images_seen / outcome.train_seconds if outcome.train_seconds else None,
    }


def train_run(config: RunConfig, out_dir, *, device: str = "auto", data_dir: str | None = None,
              deterministic: bool = False, threads: int | None = None,
              on_progress: Progress | None = None) -> dict[str, Any]:
    """Train one run and write its ``spe.run/1`` record atomically into ``out_dir/runs``.

    Bad input (SpeError) propagates; any other exception inside training becomes a
    ``failed`` record with the error message, so a sweep can go on.
    """
    dev = setup_torch(device, deterministic, threads)
    data = load_dataset(config.dataset, data_dir)
    started_at = utc_now()
    outcome, error = Outcome(), None
    try:
        splits = make_splits(config, data, dev)
        rid = config.run_id

        def progress(event: dict[str, Any]) -> None:
            on_progress({"run_id": rid, **event})

        outcome = fit(config, *splits, len(data.classes), dev, progress if on_progress else None)
    except SpeError:
        raise
    except Exception as exc:  # recorded, not raised: one bad run must not stop a sweep
        outcome.status, error = "failed", f"{type(exc).__name__}: {exc}"
    record = make_record(config, outcome, str(dev), started_at, error)
    write_record(out_dir, record)
    return record


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


def make_record(config: RunConfig, outcome: Outcome, device: str, started_at: str,
                error: str | None = None, fused: int = 1) -> dict[str, Any]:
    """The ``spe.run/1`` record of a run that ended now; ``fused``: runs trained together."""
    return {
        "schema": SCHEMA, "run_id": config.run_id, "status": outcome.status,
        "config": config.to_dict(), "metrics": summarize(outcome), "history": outcome.history,
        "env": {**environment(device),
                "precision": "bf16" if uses_bf16(config.precision, device) else "fp32", "fused": fused},
        "started_at": started_at, "finished_at": utc_now(),
        "error": error,
    }
