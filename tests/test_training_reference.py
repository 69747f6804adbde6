"""Training stays bit for bit what it was: deterministic digits runs (plain, mix, learned, and
the three trained as one fused group) against records committed before the one-loop refactor
(tests/reference/training, written by make_reference.py there)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from spe_analysis.training.config import resolve_config
from spe_analysis.training import train_group, train_run

REFERENCE = Path(__file__).parent / "reference" / "training"
COMMON = dict(dataset="digits", model="resnet20", attention="se", epochs=2, batch_size=64,
              train_subset=256, precision="fp32")
CONFIGS = {"plain": dict(pool="avg", seed=3), "mix": dict(pool="mix", alpha=0.5, beta=-0.5, seed=4),
           "learned": dict(pool="learned", seed=5)}
TIMING = ("train_seconds", "images_per_second")  # the clock's, not the training's


def train_references(out: Path) -> dict[str, dict]:
    """The reference runs, each alone and the three as one fused group, in one thread."""
    threads = torch.get_num_threads()
    try:
        configs = {name: resolve_config(**{**COMMON, **extra}) for name, extra in CONFIGS.items()}
        records = {name: train_run(config, out / name, device="cpu", deterministic=True, threads=1)
                   for name, config in configs.items()}
        group = train_group(list(configs.values()), out / "fused", device="cpu", deterministic=True, threads=1)
        records.update({f"fused-{name}": record for name, record in zip(configs, group)})
    finally:
        torch.use_deterministic_algorithms(False)
        torch.set_num_threads(threads)
    return records


def comparable(record: dict) -> dict:
    return {"run_id": record["run_id"], "status": record["status"], "config": record["config"],
            "history": record["history"], "fused": record["env"]["fused"],
            "metrics": {k: v for k, v in record["metrics"].items() if k not in TIMING}}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_references(tmp_path_factory.mktemp("reference"))


@pytest.mark.parametrize("name", [*CONFIGS, *(f"fused-{n}" for n in CONFIGS)])
def test_training_reproduces_the_reference_records(trained, name):
    reference = json.loads((REFERENCE / f"{name}.json").read_text())
    assert comparable(trained[name]) == comparable(reference)
