"""Squeeze statistics and users' pools in a sweep: --also names them as cells, a sweep may have
no mix grid, and every cell keeps its own runs (dry runs only: nothing is trained here)."""
from __future__ import annotations

import tomllib

import pytest

from conftest import assert_usage_error, run_spe
from spe_analysis.errors import SpeError
from spe_analysis.sweep.grid import parse_pools
from spe_analysis.sweep.spec import build_spec


def test_also_labels_are_checked_written_one_way_and_listed_once():
    assert parse_pools("lse:4,lse:4.0, gem:3,dct,avgmax,meanstd:-0.5,lse:0.25") == [
        "lse:4", "gem:3", "dct", "avgmax", "meanstd:-0.5", "lse:0.25"]
    for bad, fragment in [("avg", "always run"), ("mix", "--alpha-grid"), ("lse", "temperature"),
                          ("dct:1", "takes no parameter"), ("median", "unknown pool")]:
        with pytest.raises(SpeError, match=fragment):
            parse_pools(bad)


def test_each_parameter_is_its_own_cell_and_run():
    spec = build_spec({"also": "lse:1,lse:4,gem:3", "seeds": "0,1"})
    assert spec.cells() == [("avg", None, None), ("lse:1", None, None), ("lse:4", None, None),
                            ("gem:3", None, None)]
    configs = spec.configs()
    assert [(c.pool, c.pool_param) for c in configs[:4]] == [("avg", None), ("lse", 1.0), ("lse", 4.0), ("gem", 3.0)]
    assert len({c.run_id for c in configs}) == 8


def test_grids_are_both_given_or_both_left_out():
    with pytest.raises(SpeError, match="--beta-grid is required"):
        build_spec({"alpha_grid": "0,1", "also": "dct"})
    with pytest.raises(SpeError, match="names them with --also"):
        build_spec({})


def test_dry_run_of_a_sweep_without_mix_cells_lists_each_statistic(tmp_path):
    result = run_spe("sweep", "--also", "lse:0.5,lse:4,dct", "--seeds", "2", "--epochs", "1",
                     "--out", tmp_path / "sq", "--dry-run")
    assert result.code == 0, result.stderr
    assert all(label in result.stdout for label in ("lse:0.5", "lse:4", "dct"))
    assert "8 runs: 4 cells x 2 seeds" in result.stdout
    assert not (tmp_path / "sq").exists()
    written = tomllib.loads(build_spec({"also": "lse:0.5,lse:4.0,dct"}).to_toml())
    assert written["also"] == ["lse:0.5", "lse:4", "dct"] and written["alpha_grid"] == []
    assert build_spec(written).cells() == build_spec({"also": "lse:0.5,lse:4,dct"}).cells()


def test_bad_also_exits_2_with_one_line(tmp_path):
    assert_usage_error(run_spe("sweep", "--also", "lse:-1", "--out", tmp_path, "--dry-run"), "positive")
    assert_usage_error(run_spe("sweep", "--also", "nosuchmodule:make", "--out", tmp_path, "--dry-run"),
                       "cannot import pool factory")


def test_squeeze_statistics_train_unfused():
    from spe_analysis.training.config import resolve_config
    from spe_analysis.training.groups import fusion_key
    assert fusion_key(resolve_config(pool="avg")) is not None
    assert all(fusion_key(resolve_config(pool=p)) is None for p in ("lse:4", "gem:3", "meanstd:1", "dct"))
