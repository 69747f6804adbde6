"""Users' own pools: a module on sys.path (--pool MODULE:FACTORY) and a name registered by an
installed package under the spe.pools entry points, trained end to end on digits; what the
record keeps of them; bad factories refused in one line."""
from __future__ import annotations

import importlib
import math
import sys
import textwrap

import pytest
import torch

from conftest import assert_usage_error, run_spe
from spe_analysis.training.config import resolve_config
from spe_analysis.pooling import make_pool
from spe_analysis.models import make_model
from spe_analysis.pooling import PluginPool
from spe_analysis.records import load_records
from spe_analysis.training.dynamics import RunPools

# A root-mean-square pool, a statistic spe does not have.
RMS = '''
import torch
from torch import nn

__version__ = "{version}"


class RootMeanSquare(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.channels = channels

    def forward(self, x):
        return x.square().mean((2, 3), keepdim=True).add(1e-6).sqrt()


def make(channels):
    return RootMeanSquare(channels)


def flat(channels):
    return RootMeanSquare(channels).forward  # not a module


class LearnedPower(nn.Module):
    """A power mean with a trained exponent, which asks training for a penalty and a record."""
    def __init__(self, channels):
        super().__init__()
        self.log_p = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        p = self.log_p.exp()
        return x.abs().add(1e-6).pow(p).mean((2, 3), keepdim=True).pow(1 / p)

    def regularizer(self):
        return self.log_p.square()

    def epoch_record(self):
        return {{"power": float(self.log_p.detach().exp())}}


def learned_power(channels):
    return LearnedPower(channels)


class Flat(nn.Module):
    def forward(self, x):
        return x.mean((2, 3))  # (B, C): the wrong shape


def wrong_shape(channels):
    return Flat()
'''
TRAIN = ("train", "--dataset", "digits", "--epochs", "1", "--train-subset", "300", "--quiet")


def write_module(folder, name, version="0.3"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(RMS.format(version=version), encoding="utf-8")


@pytest.fixture
def rms_module(tmp_path, monkeypatch):
    folder = tmp_path / "user_code"
    write_module(folder, "spe_test_rms")
    write_module(folder, "spe_test_rms_copy")
    monkeypatch.syspath_prepend(str(folder))
    return "spe_test_rms"


@pytest.fixture
def installed_package(tmp_path, monkeypatch):
    """A package 'spe-test-pools' 1.2 installed in a site folder: its code and a .dist-info whose
    entry_points.txt registers the pool name 'rms-pool', as pip would install it."""
    site = tmp_path / "site"
    write_module(site / "spe_test_pools", "__init__", version="ignored: the distribution's counts")
    info = site / "spe_test_pools-1.2.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: spe-test-pools\nVersion: 1.2\n")
    (info / "top_level.txt").write_text("spe_test_pools\n")
    (info / "entry_points.txt").write_text(textwrap.dedent("""\
        [spe.pools]
        rms-pool = spe_test_pools:make
        """))
    monkeypatch.syspath_prepend(str(site))
    return "rms-pool"


def test_module_pool_trains_on_digits_and_the_record_keeps_its_factory(tmp_path, rms_module):
    result = run_spe(*TRAIN, "--pool", f"{rms_module}:make", "--out", tmp_path / "out")
    assert result.code == 0, result.stderr
    [record] = load_records(tmp_path / "out")
    assert record["status"] == "ok" and len(record["history"]) == 1
    config = record["config"]
    assert (config["pool"], config["pool_import"], config["pool_version"]) == (
        f"{rms_module}:make", f"{rms_module}:make", "0.3")
    assert record["run_id"] == resolve_config(**config).run_id
    # The same code under another import path, or at another version, is another run.
    assert resolve_config(**{**config, "pool": "spe_test_rms_copy:make"}).run_id != record["run_id"]
    write_module(tmp_path / "user_code", rms_module, version="0.4")
    importlib.reload(sys.modules[rms_module])
    assert resolve_config(**config).run_id != record["run_id"]


def test_a_user_pool_adds_its_penalty_and_its_record_to_training(tmp_path, rms_module):
    model = make_model("resnet20", attention="se", pool=f"{rms_module}:learned_power")
    with torch.no_grad():
        for pool in model.modules():
            if isinstance(pool, PluginPool):
                pool.module.log_p.fill_(0.5)
    run_pools = RunPools(model)  # what the training loop adds to the loss and records
    assert float(run_pools.penalty()) == pytest.approx(9 * 0.25)
    assert run_pools.epoch() == {"power": [pytest.approx(math.exp(0.5))] * 9}  # no 2-vector: no p_norm
    result = run_spe(*TRAIN, "--pool", f"{rms_module}:learned_power", "--out", tmp_path)
    assert result.code == 0, result.stderr
    [record] = load_records(tmp_path)
    [row] = record["history"]
    assert len(row["power"]) == 9 and all(p != 1.0 for p in row["power"])  # each trained from 1


def test_entry_point_pool_trains_on_digits_by_its_registered_name(tmp_path, installed_package):
    result = run_spe(*TRAIN, "--pool", installed_package, "--attention", "spem", "--out", tmp_path)
    assert result.code == 0, result.stderr
    [record] = load_records(tmp_path)
    assert record["status"] == "ok"
    config = record["config"]
    assert (config["pool"], config["pool_import"], config["pool_version"]) == (
        "rms-pool", "spe_test_pools:make", "1.2")
    direct = resolve_config(**{**config, "pool": "spe_test_pools:make"})
    assert direct.pool_import == config["pool_import"] and direct.run_id != record["run_id"]


def test_user_pool_is_built_per_host_with_its_channels(rms_module):
    pool = make_pool(f"{rms_module}:make", channels=24)
    assert pool.module.channels == 24
    x = torch.randn(2, 24, 5, 5)
    torch.testing.assert_close(pool(x), x.square().mean((2, 3), keepdim=True).add(1e-6).sqrt())
    a, b, wa, wb = pool.terms(x)  # the SPEM host sees it as a single statistic
    torch.testing.assert_close(wa * a + wb * b, pool(x))


@pytest.mark.parametrize("pool,fragment", [
    ("spe_no_such_module:make", "cannot import pool factory"),
    ("{module}:no_such_factory", "cannot import pool factory"),
    ("{module}:wrong_shape", "(B, C, 1, 1)"),
    ("{module}:flat", "must return an nn.Module"),
    ("no-such-registered-pool", "unknown pool"),
])
def test_bad_user_pool_exits_2_with_one_line(tmp_path, rms_module, pool, fragment):
    result = run_spe(*TRAIN, "--pool", pool.format(module=rms_module), "--out", tmp_path)
    assert_usage_error(result, fragment)
    assert not (tmp_path / "runs").exists()
