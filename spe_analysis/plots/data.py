"""What every figure and the report read: a sweep's statistics, computed once by
:func:`spe_analysis.stats.analyze`, with the very samples and runs those statistics used,
so figures, tables and the claim always agree."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..errors import SpeError
from ..records import Unreadable, load_sweep_records
from ..stats import analyze
from ..stats.cells import Cell, cell_of, collect
from ..sweep.sequential import analyze as sequential_analysis, sequential_spec
from .style import number

METRIC_LABELS = {"final_test_acc": "final test accuracy",
                 "test_acc_at_best_val": "test accuracy at best val. epoch"}


def finite(x: Any) -> float:
    """``x`` as a float, NaN when it is missing (JSON null) or not finite."""
    return float(x) if x is not None and math.isfinite(x) else math.nan


def cell_key(entry: Mapping[str, Any]) -> Cell:
    """The cell of a stats row."""
    return entry["pool"], entry.get("alpha"), entry.get("beta")


def short_label(entry: Mapping[str, Any], sep: str = ", ") -> str:
    """'α=0.5, β=0.25' for a mix cell, the pool name for any other."""
    pool, alpha, beta = cell_key(entry)
    return f"α={number(alpha)}{sep}β={number(beta)}" if pool == "mix" else pool


@dataclass(frozen=True)
class Sweep:
    """One sweep directory: its statistics, the samples and runs behind them, its specification."""

    name: str
    path: Path
    stats: dict[str, Any]  # shaped like `spe stats --format json`, cells in grid order
    samples: dict[Cell, dict[int, float]]  # seed -> metric value, exactly what stats tested
    runs: dict[Cell, list[dict[str, Any]]]  # the records behind ``samples`` (for histories)
    spec: str | None  # DIR/sweep.toml, when present
    unreadable: tuple[Unreadable, ...] = ()  # files under runs/ left out, for the reader to name

    @property
    def metric_label(self) -> str:
        return METRIC_LABELS.get(self.stats["metric"], self.stats["metric"])

    @property
    def baseline_caption(self) -> list[str]:
        """['final test accuracy', 'avg baseline 90.00 ± 0.16 % (mean ± sd, n = 5)']."""
        base = self.baseline
        spread = (f" ± {base['sd']:.2f} % (mean ± sd, n = {base['n']})" if base["sd"] is not None
                  else f" % (n = {base['n']})")
        return [self.metric_label, f"avg baseline {base['mean']:.2f}{spread}"]

    @property
    def baseline(self) -> dict[str, Any]:
        return self.stats["baseline"]

    @property
    def mix_cells(self) -> list[dict[str, Any]]:
        return [c for c in self.stats["cells"] if c["pool"] == "mix"]

    @property
    def other_cells(self) -> list[dict[str, Any]]:
        """Cells of the other pools (max, min, avgmax, learned)."""
        return [c for c in self.stats["cells"] if c["pool"] != "mix"]

    def values(self, cell: Cell) -> list[float]:
        """The cell's metric values, by seed."""
        samples = self.samples.get(cell, {})
        return [samples[seed] for seed in sorted(samples)]


def load_sweep(directory: str | Path, metric: str = "final_test_acc", test: str = "welch",
               correction: str = "holm", margin: float = 0.5,
               significance: float = 0.05) -> Sweep:
    """Read DIR/runs and analyse it once; SpeError when it holds no runs or no usable baseline.

    A sweep without mix cells (e.g. only learned runs against avg) is accepted: the kinds
    that need mix cells say so through their ``unsupported``.
    """
    path = Path(directory)
    records = load_sweep_records(path)
    design = sequential_spec(path)
    if design is not None:  # analysed as it was run, exactly as spe stats does
        stats = {"metric": metric, **sequential_analysis(design, records, metric, test,
                                                         len(records.unreadable))}
    else:
        stats = analyze(records, metric=metric, test=test, correction=correction, margin=margin,
                        significance=significance)
    if not stats["baseline"]["n"]:
        raise SpeError(f"no usable avg baseline run in {path} (all failed or diverged); "
                       "figures compare every cell with it")
    samples, _ = collect(records, metric)
    runs: dict[Cell, list[dict[str, Any]]] = {}
    for record in records:
        cell = cell_of(record)
        if int(record["config"].get("seed", 0)) in samples.get(cell, {}):
            runs.setdefault(cell, []).append(record)
    spec = path / "sweep.toml"
    return Sweep(name=path.resolve().name, path=path, stats=stats, samples=samples, runs=runs,
                 spec=spec.read_text(encoding="utf-8") if spec.is_file() else None,
                 unreadable=tuple(records.unreadable))
