"""The training loop: a group of runs trained as one model, a single run being a group of one.

Each run of a group is built from its own seed (model initialisation) and draws its data
order and augmentation from its own generator, exactly as alone; a group of one trains the
run's own model (:class:`~spe_analysis.models.fused.OwnModel`), several runs one fused model
(:mod:`spe_analysis.models.fused`) whose loss is the sum of the runs' losses, so each run's
parameters get its own gradient and SGD its own step.  What a pool adds to training (a
regulariser, values each epoch records) comes through the pool's training interface
(:class:`~spe_analysis.training.dynamics.RunPools`).  A run whose loss becomes non-finite
is ``diverged`` at the end of that epoch while the others go on.

The recipe's hyperparameters all come from :class:`~spe_analysis.training.config.RunConfig`;
this module only carries them out.  The reported accuracy is the final epoch's on the test
set (never the best epoch on test); with a validation split, also the test accuracy at the
best validation epoch.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F

from ..models import make_model
from ..models.fused import default_kernels, group_model
from .augment import alternate_flips, augment_batch, tta_logits
from .config import RunConfig, config_pool
from .dynamics import RunPools
from .groups import check_group
from .lookahead import Lookahead
from .outcome import Outcome
from .precision import uses_bf16
from .schedule import lr_factor

Progress = Callable[[dict[str, Any]], None]


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


def autocast(device: torch.device, precision: str):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=uses_bf16(precision, device.type))


@torch.inference_mode()
def evaluate(model: torch.nn.Module, split: Split, batch_size: int, device: torch.device,
             precision: str = "auto", tta: int = 0) -> list[tuple[float, float]]:
    """(mean cross-entropy, accuracy in percent) on a split, one pair per run of ``model`` (a
    group's model: (K, B, ...) -> (K, B, classes)).  ``tta``: the level of test-time
    augmentation (:func:`~spe_analysis.training.augment.tta_logits`)."""
    model.eval()
    runs = model.runs
    loss = torch.zeros(runs, device=device)
    correct = torch.zeros(runs, device=device, dtype=torch.long)
    for start in range(0, len(split.y), batch_size):
        xb, yb = split.x[start:start + batch_size], split.y[start:start + batch_size]
        with autocast(device, precision):
            logits = tta_logits(lambda view: model(view.expand(runs, *view.shape)), xb, tta)
        # Each run's sum as its own evaluation sums it (a batched reduction sums in another order).
        loss += torch.stack([F.cross_entropy(run.float(), yb, reduction="sum") for run in logits])
        correct += (logits.argmax(-1) == yb).sum(-1)
    n = len(split.y)
    return [(l / n, 100.0 * c / n) for l, c in zip(loss.tolist(), correct.tolist())]


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


def fit(configs: list[RunConfig], train: Split, test: Split, val: Split | None, num_classes: int,
        device: torch.device, on_progress: Progress | None = None, kernels: str | None = None) -> list[Outcome]:
    """Train the runs of ``configs`` as one model and evaluate them after every epoch; one
    Outcome per run, in order (runs of one pool next to each other: :func:`~spe_analysis.training.groups.group_order`).
    ``kernels``: a fused model's kernel layout (:data:`~spe_analysis.models.fused.KERNELS`;
    default: ``split`` when deterministic, else ``grouped``).  ``on_progress`` gets each event
    with ``run``, the run's index."""
    check_group(configs)
    config, runs = configs[0], len(configs)  # the hyperparameters the runs share
    models, generators, first_flips = [], [], []
    for c in configs:
        torch.manual_seed(c.seed)  # model initialisation
        generator = torch.Generator().manual_seed(c.seed)  # data order and augmentation
        model = make_model(c.model, num_classes=num_classes, in_channels=train.x.shape[1], attention=c.attention,
                           pool=config_pool(c), alpha=c.alpha, beta=c.beta).to(device, memory_format=torch.channels_last)
        if hasattr(model, "prepare"):  # data-dependent initialisation (airbench's whitening)
            model.prepare(train.x)
        models.append(model)
        generators.append(generator)
        first_flips.append(torch.rand(len(train.y), generator=generator) < 0.5 if c.flip_mode == "alternate" else None)
    # Each run's pools are its own modules inside the group's model: a run's regulariser and
    # recorded values are read from them as from a model of its own.
    pools = [RunPools(m) for m in models]
    outcomes = [Outcome(parameters=sum(p.numel() for p in m.parameters())) for m in models]
    epoch_hooks = [m.set_epoch for m in models if hasattr(m, "set_epoch")]  # airbench's whitening bias
    model = group_model(models, kernels or default_kernels(torch.are_deterministic_algorithms_enabled()))
    model = model.to(device, memory_format=torch.channels_last)
    del models
    optimizer = make_optimizer(model, config)
    n = len(train.y)
    batch = min(config.batch_size, n)
    steps = n // batch  # drop the last partial batch: a batch of one breaks BatchNorm
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(config, s, steps))
    lookahead = Lookahead(model, config.epochs * steps) if config.lookahead else None
    alive = list(range(runs))
    for epoch in range(1, config.epochs + 1):
        model.train()
        if config.whiten_bias_epochs is not None:
            for set_epoch in epoch_hooks:
                set_epoch(epoch, config.whiten_bias_epochs)
        started = time.perf_counter()
        orders = [torch.randperm(n, generator=g).to(device) for g in generators]
        flips = [None if first is None else alternate_flips(first, epoch) for first in first_flips]
        loss_sum = torch.zeros(runs, device=device)
        correct = torch.zeros(runs, device=device, dtype=torch.long)
        lr = optimizer.param_groups[0]["lr"]
        for step in range(steps):
            idx = [order[step * batch:(step + 1) * batch] for order in orders]
            views = [augment_batch(train.x[i], config.crop_padding, config.flip, g, config.pad_mode or "zeros",
                                   None if f is None else f[i.cpu()]) for i, g, f in zip(idx, generators, flips)]
            xb = views[0][None] if runs == 1 else torch.stack(views)  # (runs, batch, C, H, W)
            yb = torch.stack([train.y[i] for i in idx])
            with autocast(device, config.precision):
                logits = model(xb)  # (runs, batch, classes)
                # One loss per run, each exactly as the run alone computes it (a batched reduction
                # rounds differently, and training amplifies such differences).
                losses = []
                for k in range(runs):
                    loss = F.cross_entropy(logits[k].float(), yb[k], label_smoothing=config.label_smoothing)
                    penalty = pools[k].penalty()
                    losses.append(loss if penalty is None else loss + config.pool_reg * penalty)
                losses = torch.stack(losses)
            optimizer.zero_grad(set_to_none=True)
            losses.sum().backward()  # each run's parameters get only its own loss's gradient
            for run_pools in pools:
                run_pools.before_step()
            optimizer.step()
            for run_pools in pools:
                run_pools.after_step()
            scheduler.step()
            if lookahead is not None:
                lookahead.after_step((epoch - 1) * steps + step + 1)
            loss_sum += losses.detach() * batch
            correct += (logits.argmax(-1) == yb).sum(-1)
            # Per-step progress only where steps are slow and reading the loss costs no device sync.
            if on_progress is not None and device.type == "cpu":
                step_losses = losses.tolist()
                for k in alive:
                    on_progress({"run": k, "epoch": epoch, "epochs": config.epochs, "step": step + 1,
                                 "steps": steps, "train_loss": step_losses[k]})
        # Waits for queued GPU work, which is part of the epoch; the quotients in float64.
        train_losses = [total / (steps * batch) for total in loss_sum.tolist()]
        train_accs = [100.0 * hits / (steps * batch) for hits in correct.tolist()]
        seconds = time.perf_counter() - started
        for k in alive:
            outcomes[k].train_seconds += seconds
            outcomes[k].images_seen += steps * batch
        for k in [k for k in alive if not math.isfinite(train_losses[k])]:
            outcomes[k].status = "diverged"
            alive.remove(k)
        if not alive:
            break
        scores = {"test": evaluate(model, test, config.test_batch_size, device, config.precision)}
        if val is not None:
            scores["val"] = evaluate(model, val, config.test_batch_size, device, config.precision)
        final_tta = config.tta and epoch == config.epochs  # the recipe's final evaluation
        if final_tta:
            tta = evaluate(model, test, config.test_batch_size, device, config.precision, tta=config.tta)
        for k in alive:
            row = {"epoch": epoch, "train_loss": train_losses[k], "train_acc": train_accs[k]}
            for name, per_run in scores.items():
                row[f"{name}_loss"], row[f"{name}_acc"] = per_run[k]
            row["lr"] = lr
            if final_tta:
                row["test_loss_tta"], row["test_acc_tta"] = tta[k]
            row.update(pools[k].epoch())
            outcomes[k].history.append(row)
            if on_progress is not None:
                on_progress({"run": k, **row, "epochs": config.epochs, "step": steps, "steps": steps,
                             "images_per_second": outcomes[k].images_seen / outcomes[k].train_seconds})
    return outcomes
