"""The sweep's axes and specification: GRID and seeds parsing, config files, sweep.toml
compatibility, and bad input ending as one line with exit status 2."""
from __future__ import annotations

import pytest

from conftest import assert_usage_error, run_spe
from spe_analysis.training.config import resolve_config
from spe_analysis.errors import SpeError
from spe_analysis.sweep import build_spec, check_directory, parse_grid, parse_pools, parse_seeds, read_config
from spe_analysis.sweep.spec import spec_path


@pytest.mark.parametrize("text, points", [
    ("0:1:0.25", [0, 0.25, 0.5, 0.75, 1]),
    ("0:1:0.3", [0, 0.3, 0.6, 0.9]),  # stop only when it lands on the grid
    ("0:1:0.1", [round(0.1 * i, 1) for i in range(11)]),  # exact decimals: 0.3, not 0.30000000000000004
    ("1:-1:-0.5", [1, 0.5, 0, -0.5, -1]),
    ("-1:-1:1", [-1]),
    ("0,0.5,1", [0, 0.5, 1]),
    ("-0.5, 2", [-0.5, 2]),
    ("-0", [0]),
    ("1e-1", [0.1]),
])
def test_grid_points(text, points):
    assert parse_grid(text) == points


def test_grid_points_give_the_run_ids_of_spe_train():
    # 0.1 * 3 in floats is 0.30000000000000004: a grid built that way would never match.
    spec = build_spec({"alpha_grid": "0:0.3:0.1", "beta_grid": "0.3", "seeds": 1, "epochs": 1})
    mix = [c for c in spec.configs() if c.pool == "mix"]
    assert mix[-1].alpha == 0.3
    assert mix[-1].run_id == resolve_config(pool="mix", alpha=0.3, beta=0.3, seed=0, epochs=1).run_id


def test_grid_accepts_toml_lists():
    assert parse_grid([0, 0.5, 1]) == [0, 0.5, 1]
    assert parse_grid(1) == [1.0]


@pytest.mark.parametrize("text, fragment", [
    ("0:1:0", "step must not be zero"),
    ("0:1", "start:stop:step"),
    ("0:1:0.5:2", "start:stop:step"),
    ("1:0:0.5", "empty grid"),
    ("", "empty"),
    ("0,,1", "empty item"),
    ("a,b", "not a number"),
    ("0:x:1", "not a number"),
    ("nan", "finite"),
    ("inf,1", "finite"),
    ("0,1,0", "twice"),
    ("0:1:1e-9", "at most"),
])
def test_bad_grids(text, fragment):
    with pytest.raises(SpeError, match=fragment):
        parse_grid(text, "alpha-grid")


def test_seeds():
    assert parse_seeds("3") == [0, 1, 2]
    assert parse_seeds(2) == [0, 1]
    assert parse_seeds("4,7") == [4, 7]
    assert parse_seeds([5]) == [5]
    for bad in ("0", "-2", "1.5", "x", "1,1", "1,-1", [], True):
        with pytest.raises(SpeError):
            parse_seeds(bad)


def test_extra_pools():
    assert parse_pools("max, min,max") == ["max", "min"]
    assert parse_pools(None) == []
    with pytest.raises(SpeError, match="accepted: max, min, learned, avgmax"):
        parse_pools("mix")


def test_cells_leave_out_zero_zero_unless_asked():
    spec = build_spec({"alpha_grid": "0,1", "beta_grid": "0,1", "seeds": 2, "also": "max,learned"})
    assert spec.cells() == [("avg", None, None), ("max", None, None), ("learned", None, None),
                            ("mix", 0.0, 1.0), ("mix", 1.0, 0.0), ("mix", 1.0, 1.0)]
    assert len(spec.configs()) == 12
    assert [c.seed for c in spec.configs()[:6]] == [0] * 6  # whole seeds first
    with_zero = build_spec({"alpha_grid": "0,1", "beta_grid": "0,1", "include_zero": True})
    assert ("mix", 0.0, 0.0) in with_zero.cells()


def test_written_spec_reads_back_as_config(tmp_path):
    spec = build_spec({"alpha_grid": "0:1:0.5", "beta_grid": "1", "seeds": "0,3", "also": "min",
                       "epochs": 2, "lr": 0.05})
    path = tmp_path / "sweep.toml"
    path.write_text(spec.to_toml())
    again = build_spec(read_config(path))
    assert again == spec
    assert [c.run_id for c in again.configs()] == [c.run_id for c in spec.configs()]


def test_config_file_and_flag_override(tmp_path):
    config = tmp_path / "mine.toml"
    config.write_text('alpha_grid = "0,1"\nbeta_grid = [1]\nseeds = 1\nepochs = 3\ntrain_subset = 64\n'
                      'batch_size = 32\n')
    result = run_spe("sweep", "--config", config, "--epochs", "1", "--out", tmp_path / "d", "--dry-run")
    assert result.code == 0, result.stderr
    assert "epochs = 1" in result.stdout and "batch_size = 32" in result.stdout
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("text, fragment", [
    ('alpha_grid = "0"\nbeta_grid = "1"\nepochz = 2\n', "unknown key 'epochz'"),
    ('alpha_grid = "0"\nbeta_grid = "1"\nepochs = "two"\n', "epochs must be of type int"),
    ('alpha_grid = "0"\nbeta_grid = "1"\nnesterov = 1\n', "nesterov must be of type bool"),
    ('alpha_grid = "0"\nbeta_grid = "1"\nmilestones = [1.5]\n', "list of integers"),
    ('alpha_grid = "0"\nbeta_grid = \n', "not valid TOML"),
    ('schema = "other/2"\n', "schema"),
])
def test_bad_config_files(tmp_path, text, fragment):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    assert_usage_error(run_spe("sweep", "--config", config, "--out", tmp_path / "d"), fragment)


def test_directory_of_a_different_sweep_is_refused_unless_only_the_extent_grows(tmp_path):
    first = build_spec({"alpha_grid": "0,1", "beta_grid": "1", "seeds": 2, "epochs": 1})
    spec_path(tmp_path).write_text(first.to_toml())
    wider = build_spec({"alpha_grid": "0,0.5", "beta_grid": "0,1", "seeds": 3, "epochs": 1,
                        "also": "max"})
    merged = check_directory(tmp_path, wider)
    assert merged.alpha_grid == [0, 0.5, 1] and merged.beta_grid == [0, 1]
    assert merged.seeds == [0, 1, 2] and merged.also == ["max"]
    other = build_spec({"alpha_grid": "0,1", "beta_grid": "1", "seeds": 2, "epochs": 2, "lr": 0.1})
    with pytest.raises(SpeError, match=r"different sweep \(epochs 1 -> 2; lr 0.2 -> 0.1\)"):
        check_directory(tmp_path, other)
    assert check_directory(tmp_path, other, force=True) == other


BAD_INPUT = [
    (["--alpha-grid", "0:1", "--beta-grid", "0"], "start:stop:step"),
    (["--alpha-grid", "0:1:0", "--beta-grid", "0"], "step must not be zero"),
    (["--alpha-grid", "a,b", "--beta-grid", "0"], "not a number"),
    (["--alpha-grid", "0", "--beta-grid", ""], "beta-grid is empty"),
    (["--alpha-grid", "1:0:1", "--beta-grid", "0"], "empty grid"),
    (["--alpha-grid", "0", "--beta-grid", "1", "--seeds", "0"], "seeds must be at least 1"),
    (["--alpha-grid", "0", "--beta-grid", "1", "--seeds", "x"], "seeds must be a count"),
    (["--beta-grid", "1"], "--alpha-grid is required"),
    (["--alpha-grid", "0", "--beta-grid", "1", "--also", "mix"], "--also"),
    (["--alpha-grid", "0", "--beta-grid", "1", "--dataset", "imagenet"], "unknown dataset"),
    (["--alpha-grid", "0", "--beta-grid", "1", "--workers", "0"], "--workers"),
    (["--alpha-grid", "0", "--beta-grid", "1", "--workers", "many"], "--workers"),
    (["--alpha-grid", "0", "--beta-grid", "1", "--executor", "kubernetes"], "unknown executor"),
    (["--alpha-grid", "0", "--beta-grid", "1", "--device", "tpu"], "unknown device"),
    (["--alpha-grid", "0", "--beta-grid", "1", "--epochs", "x"], "epochs"),
]


@pytest.mark.parametrize("args, fragment", BAD_INPUT)
def test_bad_input_exits_2_with_one_line(tmp_path, args, fragment):
    out = tmp_path / "d"
    assert_usage_error(run_spe("sweep", *args, "--out", out), fragment)
    assert not (out / "runs").exists() or not list((out / "runs").iterdir())


def test_a_directory_holding_a_different_sweep_exits_2(tmp_path):
    spec_path(tmp_path).write_text(build_spec({"alpha_grid": "0", "beta_grid": "1", "epochs": 1}).to_toml())
    result = run_spe("sweep", "--alpha-grid", "0", "--beta-grid", "1", "--epochs", "2", "--out", tmp_path)
    assert_usage_error(result, "holds a different sweep", "epochs 1 -> 2", "--force")
    (tmp_path / "file").write_text("")
    assert_usage_error(run_spe("sweep", "--alpha-grid", "0", "--beta-grid", "1", "--out", tmp_path / "file"),
                       "is a file")
