"""``--mixes``: a sweep of chosen (alpha, beta) cells instead of a whole grid."""
from __future__ import annotations

import pytest

from conftest import assert_usage_error, run_spe
from spe_analysis.training.config import resolve_config
from spe_analysis.errors import SpeError
from spe_analysis.sweep import build_spec, check_directory, read_config
from spe_analysis.sweep.spec import spec_path

CHOSEN = "0:0.5,0.5:0.5,1:0,1:1"


def test_only_the_listed_cells_run_with_the_baseline_and_extra_pools():
    spec = build_spec({"mixes": CHOSEN, "also": "learned", "seeds": 2})
    assert spec.cells() == [("avg", None, None), ("learned", None, None), ("mix", 0.0, 0.5),
                            ("mix", 0.5, 0.5), ("mix", 1.0, 0.0), ("mix", 1.0, 1.0)]
    assert spec.alpha_grid == [0.0, 0.5, 1.0] and spec.beta_grid == [0.0, 0.5, 1.0]
    # a listed cell is the run spe train makes
    mix = next(c for c in spec.configs() if c.pool == "mix" and c.alpha == 0.5)
    assert mix.run_id == resolve_config(pool="mix", alpha=0.5, beta=0.5, seed=0).run_id


def test_listed_zero_zero_is_asked_for_explicitly():
    assert ("mix", 0.0, 0.0) in build_spec({"mixes": "0:0,1:1"}).cells()


def test_mixes_survive_sweep_toml_and_a_grid_sweep_has_none(tmp_path):
    spec = build_spec({"mixes": CHOSEN, "seeds": 1, "epochs": 1})
    spec_path(tmp_path).write_text(spec.to_toml())
    again = build_spec(read_config(spec_path(tmp_path)))
    assert again == spec and again.mixes == [[0.0, 0.5], [0.5, 0.5], [1.0, 0.0], [1.0, 1.0]]
    assert "mixes" not in build_spec({"alpha_grid": "0,1", "beta_grid": "1"}).to_toml()


def test_resuming_with_more_mixes_takes_the_union(tmp_path):
    spec_path(tmp_path).write_text(build_spec({"mixes": "1:0", "seeds": 1, "epochs": 1}).to_toml())
    merged = check_directory(tmp_path, build_spec({"mixes": "1:1", "seeds": 1, "epochs": 1}))
    assert [c[1:] for c in merged.cells() if c[0] == "mix"] == [(1.0, 0.0), (1.0, 1.0)]


@pytest.mark.parametrize("args,fragment", [
    (["--mixes", "0.5"], "alpha:beta pairs"),
    (["--mixes", "a:1"], "not a number"),
    (["--mixes", "1:1,1:1"], "appears twice"),
    (["--mixes", "1:1", "--alpha-grid", "0", "--beta-grid", "1"], "off the alpha/beta grids"),
])
def test_bad_mixes_exit_2_with_one_line(tmp_path, args, fragment):
    assert_usage_error(run_spe("sweep", *args, "--dry-run", "--out", tmp_path), fragment)


def test_bad_mixes_in_a_config_file(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("mixes = [[1, 2, 3]]\n")
    with pytest.raises(SpeError, match="alpha:beta pairs"):
        build_spec(read_config(config))
