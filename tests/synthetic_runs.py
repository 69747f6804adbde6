"""Write synthetic ``spe.run/1`` records, shaped exactly like the trainer's, for tests of the
readers (stats, plots, report, export) that should not spend time training."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

from spe_analysis.training.config import resolve_config
from spe_analysis.records import SCHEMA, write_record

Cell = tuple[str, float | None, float | None]  # (pool, alpha, beta)


def synthetic_record(pool: str = "avg", alpha: float | None = None, beta: float | None = None,
                     seed: int = 0, final_acc: float = 90.0, epochs: int = 3,
                     status: str = "ok", n_blocks: int = 9, **config) -> dict:
    """One record whose test accuracy climbs linearly to ``final_acc`` over ``epochs``."""
    cfg = resolve_config(dataset=config.pop("dataset", "digits"), pool=pool, alpha=alpha,
                         beta=beta, seed=seed, epochs=epochs, **config)
    history = []
    for epoch in range(1, epochs + 1):
        frac = epoch / epochs
        row = {"epoch": epoch, "train_loss": 2.0 * (1.1 - frac), "train_acc": final_acc * frac,
               "test_loss": 2.0 * (1.2 - frac), "test_acc": final_acc * frac, "lr": 0.1 * (1 - frac)}
        if pool == "learned":
            row["lam"] = [0.5 + 0.4 * frac * (b / max(n_blocks - 1, 1) - 0.5) for b in range(n_blocks)]
            row["p_norm"] = [0.7 - 0.5 * frac + 0.01 * b for b in range(n_blocks)]
            row["p_turn"] = [10.0 * (1.1 - frac) + 0.1 * b for b in range(n_blocks)]
        history.append(row)
    return {
        "schema": SCHEMA, "run_id": cfg.run_id, "status": status, "config": cfg.to_dict(),
        "metrics": {"final_test_acc": final_acc, "final_test_loss": history[-1]["test_loss"],
                    "best_val_acc": None, "test_acc_at_best_val": None,
                    "train_seconds": 1.0, "images_per_second": 1000.0},
        "history": history,
        "env": {"python": "3.11.7", "torch": "2.14.1", "device": "cpu", "threads": 1,
                "git_sha": None, "hostname": "test"},
        "started_at": "2026-01-01T00:00:00Z", "finished_at": "2026-01-01T00:00:01Z",
        "error": None if status != "failed" else "RuntimeError: synthetic failure",
    }


def write_sweep(out_dir: str | Path, cells: dict[Cell, Sequence[float]],
                statuses: dict[tuple[Cell, int], str] | None = None, **config) -> list[dict]:
    """Write one record per (cell, seed): ``cells[(pool, alpha, beta)] = [acc_seed0, ...]``.

    ``statuses[(cell, seed)]`` marks single runs as ``failed`` or ``diverged``.
    """
    statuses = statuses or {}
    records = []
    for (pool, alpha, beta), accs in cells.items():
        for seed, acc in enumerate(accs):
            rec = synthetic_record(pool, alpha, beta, seed=seed, final_acc=acc,
                                   status=statuses.get(((pool, alpha, beta), seed), "ok"), **config)
            write_record(out_dir, rec)
            records.append(rec)
    return records


def grid_cells(alphas: Iterable[float], betas: Iterable[float]) -> list[Cell]:
    """Mix cells in grid order (alpha-major), leaving out alpha = beta = 0."""
    return [("mix", a, b) for a in alphas for b in betas if (a, b) != (0, 0)]
