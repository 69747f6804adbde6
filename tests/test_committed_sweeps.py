"""The committed sweeps behind the README's cross-setting findings: five settings, each with
enough seeds per cell and a baseline good enough to compare against."""
from __future__ import annotations

import json

import pytest

from conftest import REPO, run_spe

# setting -> (attention, dataset prefix, lowest acceptable avg accuracy in %)
SETTINGS = {
    "cifar10-se-resnet20": ("se", "cifar10", 70.0),
    "cifar10-eca-resnet20": ("eca", "cifar10", 70.0),
    "cifar10-cbam-resnet20": ("cbam", "cifar10", 70.0),
    "cifar10-spem-resnet20": ("spem", "cifar10", 70.0),
    "fashion-mnist-se-resnet20": ("se", "fashion-mnist", 85.0),
}
MIN_SEEDS = 3
MIX_CELLS = {(alpha, beta) for alpha in (0.0, 0.5, 1.0) for beta in (0.0, 0.5, 1.0)} - {(0.0, 0.0)}


@pytest.fixture(scope="module")
def meta():
    dirs = [REPO / "figures" / "data" / name for name in SETTINGS]
    result = run_spe("meta", *map(str, dirs), "--format", "json")
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


def _setting(meta, attention, dataset):
    found = [s for s in meta["settings"]
             if s["config"].get("attention") == attention and dataset in s["config"].get("dataset", "")]
    assert len(found) == 1, (attention, dataset, [s["config"] for s in meta["settings"]])
    return found[0]


@pytest.mark.parametrize("name", SETTINGS)
def test_each_setting_has_a_baseline_worth_comparing_against(meta, name):
    attention, dataset, floor = SETTINGS[name]
    baseline = _setting(meta, attention, dataset)["baseline"]
    assert baseline["n"] >= MIN_SEEDS and baseline["mean"] > floor


@pytest.mark.parametrize("name", SETTINGS)
def test_every_mix_cell_of_each_setting_has_enough_seeds(meta, name):
    attention, dataset, _ = SETTINGS[name]
    label = _setting(meta, attention, dataset)["name"]
    studies = {(c["alpha"], c["beta"]): s for c in meta["cells"] if c["pool"] == "mix"
               for s in c["studies"] if s["setting"] == label}
    assert set(studies) == MIX_CELLS
    assert all(s["n"] >= MIN_SEEDS and s["n_baseline"] >= MIN_SEEDS for s in studies.values())


def test_all_five_settings_are_pooled(meta):
    assert len(meta["settings"]) == len(SETTINGS)
    assert all(c["k"] == len(SETTINGS) for c in meta["cells"] if c["pool"] == "mix")
