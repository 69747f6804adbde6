"""Several runs trained as one fused model (:mod:`spe_analysis.fused`), each as if alone.

Runs that share every hyperparameter but pool, alpha, beta and seed train together: each
run's model is built from its own seed exactly as :func:`~spe_analysis.training.fit` builds
it and then stacked into the fused model; each run draws its data order and augmentation
from its own generator in fit's order; the loss is the sum of the runs' losses, so each
run's parameters get its own gradient and SGD its own step.  Every run gets its own
history, metrics and ``spe.run/1`` record; a run whose loss becomes non-finite is recorded
``diverged`` at the end of that epoch while the others go on (its numbers stay inside its
own channels).  With ``--deterministic`` the fused model's kernels are each run's own, so each
run trains bit for bit as alone (:mod:`spe_analysis.fused`).
"""
from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import torch
import torch.nn.functional as F

from .augment import augment_batch
from .config import RunConfig
from .data import load_dataset
from .errors import SpeError
from .fused import default_kernels, fuse_models
from .models import ARCHITECTURES, learned_lams, learned_pools, make_model, pool_regularizer
from .pool_dynamics import PoolDynamics
from .records import utc_now, write_record
from .training import (Outcome, Progress, Split, _autocast, evaluate, lr_factor, make_record, make_splits,
                       setup_torch)

VARIED = ("pool", "alpha", "beta", "seed")  # what the runs of one fused model may differ in
POOL_ORDER = ("avg", "max", "min", "mix", "learned", "avgmax")  # runs of one pool train side by side


def fusion_key(config: RunConfig) -> tuple | None:
    """Runs with equal keys can train as one fused model; None: this run cannot be fused."""
    if config.model not in ARCHITECTURES:  # the CIFAR ResNets only: timm's and airbench's layers are not fused
        return None
    if config.pool not in POOL_ORDER:  # fused.py pools these pools only: the others train alone
        return None
    shared = dataclasses.asdict(config)
    for name in VARIED:
        shared.pop(name)
    return tuple(sorted((k, repr(v)) for k, v in shared.items()))


def _order(config: RunConfig) -> tuple:
    return POOL_ORDER.index(config.pool), config.alpha or 0.0, config.beta or 0.0, config.seed


def fit_fused(configs: list[RunConfig], train: Split, test: Split, val: Split | None, num_classes: int,
              device: torch.device, on_progress: Progress | None = None,
              kernels: str | None = None) -> list[Outcome]:
    """Train the runs of ``configs`` (one fusion key, same-pool runs next to each other) as one
    model; one Outcome per run, in order.  ``kernels``: the fused model's kernel layout
    (:data:`~spe_analysis.fused.KERNELS`; default: ``split`` when deterministic, else ``grouped``)."""
    if len({fusion_key(c) for c in configs}) != 1 or None in {fusion_key(c) for c in configs}:
        raise SpeError("only runs that differ in nothing but pool, alpha, beta and seed can be fused")
    config, runs = configs[0], len(configs)
    models, generators = [], []
    for c in configs:
        torch.manual_seed(c.seed)  # model initialisation, as fit()
        generators.append(torch.Generator().manual_seed(c.seed))  # data order and augmentation
        models.append(make_model(c.model, num_classes=num_classes, in_channels=train.x.shape[1],
                                 attention=c.attention, pool=c.pool, alpha=c.alpha, beta=c.beta))
    kernels = kernels or default_kernels(torch.are_deterministic_algorithms_enabled())
    model = fuse_models(models, kernels).to(device, memory_format=torch.channels_last)
    # Each run's learned pools are its own modules inside the fused model: a run's regulariser,
    # lam and pool dynamics are read from them as from a model of its own.
    own_pools = [torch.nn.ModuleList(learned_pools(m)) for m in models]
    learned = [k for k, c in enumerate(configs) if c.pool == "learned"]
    dynamics = [PoolDynamics(pools) for pools in own_pools]
    outcomes = [Outcome(parameters=sum(p.numel() for p in m.parameters())) for m in models]
    del models
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                nesterov=config.nesterov, weight_decay=config.weight_decay)
    n = len(train.y)
    batch = min(config.batch_size, n)
    steps = n // batch  # drop the last partial batch, as fit()
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(config, s, steps))
    alive = list(range(runs))
    for epoch in range(1, config.epochs + 1):
        model.train()
        started = time.perf_counter()
        orders = [torch.randperm(n, generator=g).to(device) for g in generators]
        loss_sum = torch.zeros(runs, device=device)
        correct = torch.zeros(runs, device=device, dtype=torch.long)
        lr = optimizer.param_groups[0]["lr"]
        for step in range(steps):
            idx = [order[step * batch:(step + 1) * batch] for order in orders]
            xb = torch.stack([augment_batch(train.x[i], config.crop_padding, config.flip, g)
                              for i, g in zip(idx, generators)])
            yb = torch.stack([train.y[i] for i in idx])
            with _autocast(device, config.precision):
                logits = model(xb)  # (runs, batch, classes)
                # One loss per run, each exactly as fit() computes it (a batched reduction rounds
                # differently, and training amplifies such differences).
                losses = torch.stack([F.cross_entropy(logits[k].float(), yb[k], label_smoothing=config.label_smoothing)
                                      for k in range(runs)])
                if learned:  # as fit(): the run's own regulariser on its own loss
                    losses = torch.stack([losses[k] + config.pool_reg * pool_regularizer(own_pools[k])
                                          if k in learned else losses[k] for k in range(runs)])
            optimizer.zero_grad(set_to_none=True)
            losses.sum().backward()  # each run's parameters get only its own loss's gradient
            for k in learned:
                dynamics[k].before_step()
            optimizer.step()
            for k in learned:
                dynamics[k].after_step()
            scheduler.step()
            loss_sum += losses.detach() * batch
            correct += (logits.argmax(-1) == yb).sum(-1)
            if on_progress is not None and device.type == "cpu":
                step_losses = losses.tolist()
                for k in alive:
                    on_progress({"run": k, "epoch": epoch, "epochs": config.epochs, "step": step + 1,
                                 "steps": steps, "train_loss": step_losses[k]})
        # As fit(): the quotients in float64.
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
        scores = {"test": evaluate(model, test, config.test_batch_size, device, config.precision, runs)}
        if val is not None:
            scores["val"] = evaluate(model, val, config.test_batch_size, device, config.precision, runs)
        for k in alive:
            row = {"epoch": epoch, "train_loss": train_losses[k], "train_acc": train_accs[k]}
            for name, per_run in scores.items():
                row[f"{name}_loss"], row[f"{name}_acc"] = per_run[k]
            row["lr"] = lr
            if configs[k].pool == "learned":
                row["lam"] = learned_lams(own_pools[k])
                row.update(dynamics[k].epoch())
            outcomes[k].history.append(row)
            if on_progress is not None:
                on_progress({"run": k, **row, "epochs": config.epochs, "step": steps, "steps": steps,
                             "images_per_second": outcomes[k].images_seen / outcomes[k].train_seconds})
    return outcomes


def train_fused(configs: list[RunConfig], out_dir, *, device: str = "auto", data_dir: str | None = None,
                deterministic: bool = False, threads: int | None = None,
                on_progress: Progress | None = None) -> list[dict[str, Any]]:
    """Train ``configs`` as one fused model and write each run's ``spe.run/1`` record
    (``env.fused`` = how many trained together); the records, in the order given.

    As :func:`~spe_analysis.training.train_run`: bad input raises, any other exception
    becomes a ``failed`` record for every run of the group.
    """
    dev = setup_torch(device, deterministic, threads)
    ordered = sorted(configs, key=_order)
    data = load_dataset(ordered[0].dataset, data_dir)
    started_at = utc_now()
    outcomes, error = [Outcome() for _ in ordered], None
    try:
        splits = make_splits(ordered[0], data, dev)

        def progress(event: dict[str, Any]) -> None:
            k = event.pop("run")
            on_progress({"run_id": ordered[k].run_id, **event})

        outcomes = fit_fused(ordered, *splits, len(data.classes), dev, progress if on_progress else None)
    except SpeError:
        raise
    except Exception as exc:  # recorded, not raised: one bad group must not stop a sweep
        error = f"{type(exc).__name__}: {exc}"
        for outcome in outcomes:
            outcome.status = "failed"
    records = {c.run_id: make_record(c, o, str(dev), started_at, error, fused=len(ordered))
               for c, o in zip(ordered, outcomes)}
    for record in records.values():
        write_record(out_dir, record)
    return [records[c.run_id] for c in configs]
