"""Run ids of the committed records stay what they were: fields added to RunConfig later are
left out of the identity while unset, so every record's config still hashes to its run id."""
from __future__ import annotations

import json

import pytest

from conftest import REPO
from spe_analysis.training.config import LATER_FIELDS, RunConfig, resolve_config

RECORDS = sorted(REPO.glob("figures/data*/*/runs/*.json"))


def test_every_committed_sweep_directory_is_covered():
    dirs = {path.parent.parent for path in RECORDS}
    assert {path.parent for path in REPO.glob("figures/data*/*/sweep.toml")} <= dirs
    assert len(dirs) >= 5


@pytest.mark.parametrize("path", RECORDS, ids=lambda p: f"{p.parent.parent.name}/{p.stem}")
def test_committed_record_keeps_its_run_id(path):
    record = json.loads(path.read_text(encoding="utf-8"))
    config = RunConfig.from_dict(record["config"])
    assert config.run_id == record["run_id"] == path.stem
    assert config.to_dict() == record["config"]


def test_later_fields_enter_the_identity_only_when_set():
    base = resolve_config(pool="avg")
    assert not LATER_FIELDS & set(base.to_dict())
    lse = resolve_config(pool="lse:4")
    assert lse.to_dict()["pool_param"] == 4.0 and "pool_import" not in lse.to_dict()
    assert len({base.run_id, lse.run_id, resolve_config(pool="lse:8").run_id}) == 3
    assert resolve_config(pool="lse:4.0").run_id == resolve_config(pool="lse", pool_param=4).run_id == lse.run_id


def test_the_squeeze_sweep_holds_the_se_settings_own_avg_and_max_runs():
    """Its own family (figures/data-squeeze, out of `spe meta figures/data/*`), on the same runs."""
    squeeze = REPO / "figures" / "data-squeeze" / "cifar10-se-resnet20-squeeze" / "runs"
    se = REPO / "figures" / "data" / "cifar10-se-resnet20" / "runs"
    shared = [p for p in squeeze.glob("*.json")
              if json.loads(p.read_text(encoding="utf-8"))["config"]["pool"] in ("avg", "max")]
    assert len(shared) == 10
    assert all(p.read_bytes() == (se / p.name).read_bytes() for p in shared)
