"""The package's layers (`lint-imports` checks who imports whom, see pyproject.toml): sweep
planning and the run configuration need no torch, nor does importing the sweep's runner and
executors: a sweep is planned and checked without loading the training stack."""
from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO

PLANNING = """
import json, sys
import spe_analysis.sweep.grid, spe_analysis.sweep.spec
from spe_analysis.sweep import build_spec, plan
from spe_analysis.training import resolve_config
from spe_analysis.training.groups import fusion_key
import spe_analysis.sweep.runner, spe_analysis.sweep.executors
spec = build_spec({"alpha_grid": "0,1", "beta_grid": "0:1:0.5", "seeds": 3, "also": "learned,lse:4,dct"})
the_plan = plan(spec, sys.argv[1])
config = resolve_config(pool="mix", alpha=0.5, beta=-0.5, model="resnet56", attention="cbam")
print(json.dumps({"runs": len(the_plan.configs), "fusable": fusion_key(config) is not None,
                  "torch": "torch" in sys.modules}))
"""


def test_sweep_planning_configs_and_records_import_no_torch(tmp_path):
    done = subprocess.run([sys.executable, "-c", PLANNING, str(tmp_path / "D")], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    # 2 x 3 mixes less alpha = beta = 0, plus avg, learned, lse:4 and dct: 9 cells, 3 seeds each.
    assert json.loads(done.stdout) == {"runs": 27, "fusable": True, "torch": False}


def test_the_training_package_still_offers_train_run():
    from spe_analysis.training import train_group, train_run
    from spe_analysis.training.run import train_group as group, train_run as run

    assert (train_run, train_group) == (run, group)
