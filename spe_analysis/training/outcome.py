"""What a training run leaves: its :class:`Outcome`, and the ``spe.run/1`` record made of it.

No torch here: the sweep writes the record of a run whose worker was lost.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..records import SCHEMA, environment, utc_now
from .config import RunConfig
from .precision import uses_bf16


@dataclass
class Outcome:
    status: str = "ok"
    history: list[dict[str, Any]] = field(default_factory=list)
    train_seconds: float = 0.0
    images_seen: int = 0
    parameters: int | None = None  # the model's trainable and frozen parameters


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
