"""Sweeps: the grid of mix cells x seeds, resumable and parallel.

```python
from . import build_spec, make_executor, run_sweep
spec = build_spec({"alpha_grid": "0:1:0.5", "beta_grid": "0,1", "seeds": 3, "epochs": 2})
summary = run_sweep(spec, "sweeps/demo", make_executor("local", workers=2), on_event=print)
```
"""
from .estimate import Estimate, estimate
from .executors import InProcessExecutor, ProcessExecutor, RayExecutor, SlurmExecutor, local_layout, make_executor
from .grid import GRID_HELP, MIXES_HELP, parse_grid, parse_mixes, parse_pools, parse_seeds
from .locks import DEFAULT_STALE_AFTER, try_claim
from .runner import Plan, RunTask, Summary, check_directory, execute, plan, prepare_directory, run_sweep
from .spec import SweepSpec, build_spec, read_config, read_spec

__all__ = ["DEFAULT_STALE_AFTER", "Estimate", "GRID_HELP", "InProcessExecutor", "MIXES_HELP", "Plan", "ProcessExecutor",
           "RayExecutor", "RunTask", "SlurmExecutor", "Summary", "SweepSpec", "build_spec", "check_directory", "estimate",
           "execute", "local_layout", "make_executor", "parse_grid", "parse_mixes", "parse_pools", "parse_seeds", "plan",
           "prepare_directory", "read_config", "read_spec", "run_sweep", "try_claim"]
