"""Train the runs behind the README's learned-pool (lambda dynamics) findings; finished runs are skipped.

    python scripts/lambda_experiments.py cifar-pool-reg   # figures/data/cifar10-se-resnet20 (pool_reg 0.1),
                                                          # docs/data/lambda/cifar10-se-resnet20-reg{0.01,0}
    python scripts/lambda_experiments.py digits-paper     # docs/data/lambda/digits-se-resnet20-paper-reg{0.1,0}

A sweep always runs the mix grid, so these learned-only comparisons train through the library:
every run is exactly `spe train` with the same options (same run id).  pool_reg changes nothing
in an avg run, so the avg runs keep the recipe's pool_reg and each directory gets a copy of
the same avg baseline records.
"""
from __future__ import annotations

import shutil
import sys
import tomllib
from pathlib import Path

from spe_analysis.training.config import RunConfig, resolve_config
from spe_analysis.records import record_path
from spe_analysis.training import train_run

SE_SWEEP = Path("figures/data/cifar10-se-resnet20")
LAMBDA = Path("docs/data/lambda")  # beside the cross-setting sweeps: they share SE_SWEEP's avg runs


def cifar_pool_reg() -> list[tuple[Path, RunConfig]]:
    """The committed CIFAR-10 SE recipe; the learned pool at pool_reg 0.1 (SPEM's), 0.01 and 0."""
    spec = tomllib.loads((SE_SWEEP / "sweep.toml").read_text())
    shared = {k: v for k, v in spec.items() if k in RunConfig.__dataclass_fields__
              and k not in ("pool", "alpha", "beta", "seed")}
    out = {0.1: SE_SWEEP, 0.01: LAMBDA / f"{SE_SWEEP.name}-reg0.01", 0.0: LAMBDA / f"{SE_SWEEP.name}-reg0"}
    return [(out[reg], resolve_config(**{**shared, "pool": pool, "seed": seed,
                                          "pool_reg": reg if pool == "learned" else shared["pool_reg"]}))
            for seed in range(5) for reg in out for pool in ("avg", "learned")]


def digits_paper() -> list[tuple[Path, RunConfig]]:
    """The paper recipe's shape on digits: lr 0.1, x0.1 at 1/2 and 3/4 of 40 epochs."""
    out = {0.1: LAMBDA / "digits-se-resnet20-paper-reg0.1", 0.0: LAMBDA / "digits-se-resnet20-paper-reg0"}
    return [(out[reg], resolve_config(dataset="digits", preset="paper", epochs=40,
                                      milestones=[20, 30], pool=pool, seed=seed,
                                      pool_reg=reg if pool == "learned" else None))
            for seed in range(3) for reg in out for pool in ("avg", "learned")]


EXPERIMENTS = {"cifar-pool-reg": cifar_pool_reg, "digits-paper": digits_paper}


def main(name: str) -> None:
    baselines: dict[str, Path] = {}  # avg run id -> where its record is
    for out, config in EXPERIMENTS[name]():
        if config.pool == "avg" and config.run_id in baselines:
            if not record_path(out, config.run_id).exists():
                record_path(out, config.run_id).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(baselines[config.run_id], record_path(out, config.run_id))
            continue
        if not record_path(out, config.run_id).exists():
            record = train_run(config, out, threads=1)
            print(out, config.pool, config.pool_reg, config.seed, record["status"],
                  record["metrics"]["final_test_acc"], flush=True)
        if config.pool == "avg":
            baselines[config.run_id] = record_path(out, config.run_id)


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in EXPERIMENTS:
        sys.exit(f"usage: python scripts/lambda_experiments.py {{{'|'.join(EXPERIMENTS)}}}")
    main(sys.argv[1])
