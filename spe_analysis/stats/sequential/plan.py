"""Planning a group-sequential sweep by simulation: power and expected runs (``spe plan --looks``).

:func:`simulate` draws whole sweeps (a baseline and cells, normal runs with a common SD) and
runs every look through :func:`~spe_analysis.stats.sequential.decide`, the decision the real
sweep makes on its records; numpy carries all repetitions at once.  The fixed design with
the same maximum is the same simulation with one look.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ..planning import check_design
from .design import BETTER, CONTINUE, EQUIVALENT, WORSE, Design, decide

SEED = 20230
REPETITIONS = 4000


def run_looks(design: Design, cells: np.ndarray, base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(decision codes, stopping look index), both (reps, cells), of sweeps whose runs are
    ``cells`` (reps, cells, max seeds) and ``base`` (reps, 1, max seeds), in seed order.

    A cell still undecided at the last look gets CONTINUE (inconclusive)."""
    codes = np.full(cells.shape[:2], CONTINUE)
    stop = np.full(cells.shape[:2], -1)
    for k, n in enumerate(design.looks):
        now = decide(cells[..., :n], base[..., :n], design, k)
        new = (stop < 0) & ((now != CONTINUE) | (k == len(design.looks) - 1))
        codes[new], stop[new] = now[new], k
    return codes, stop


def simulate(design: Design, deltas, sd: float, reps: int = REPETITIONS, seed: int = SEED
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(decision codes (reps, cells), stopping look index (reps, cells), runs per sweep (reps,))
    of ``reps`` sweeps with normal runs; the baseline runs until its last cell stops."""
    deltas = np.asarray(deltas, float)
    rng = np.random.default_rng(seed)
    most = design.looks[-1]
    base = rng.normal(0.0, sd, (reps, 1, most))
    codes, stop = run_looks(design, rng.normal(deltas[None, :, None], sd, (reps, deltas.size, most)), base)
    seeds = np.asarray(design.looks)[stop]
    return codes, stop, seeds.sum(axis=1) + seeds.max(axis=1)


def _scenario(design: Design, delta: float, sd: float, reps: int, seed: int) -> dict:
    """Sequential against fixed design when every cell is ``delta`` away from the baseline."""
    out = {}
    fixed = replace(design, looks=(design.looks[-1],))
    for name, which in (("sequential", design), ("fixed", fixed)):
        codes, _, runs = simulate(which, np.full(design.cells, delta), sd, reps, seed)
        right = (BETTER if delta > 0 else WORSE) if delta != 0 else EQUIVALENT
        out[name] = {"power": float(np.mean(codes == right)), "expected_runs": float(runs.mean()),
                     "max_runs": (design.cells + 1) * design.looks[-1]}
    out["saving"] = 1.0 - out["sequential"]["expected_runs"] / out["fixed"]["expected_runs"]
    return out


def plan_sequential(looks, spending: str, sd: float, delta: float, cells: int = 25,
                    margin: float = 0.5, significance: float = 0.05, reps: int = REPETITIONS,
                    seed: int = SEED) -> dict:
    """Boundaries of the design and, by simulation, power and expected runs against the fixed
    design with the same maximum: every cell ``delta`` from avg (power: the right sign is
    declared) and, for equivalence, every cell equal to avg (power: equivalence declared)."""
    check_design(sd, delta, cells)
    design = Design(tuple(looks), spending, significance, margin, int(cells))
    return {**design.to_json(), "sd": sd, "delta": delta, "margin": margin, "significance": significance,
            "simulation": {"repetitions": reps, "seed": seed,
                           "monte_carlo_se": 0.5 / math.sqrt(reps),
                           "difference": _scenario(design, delta, sd, reps, seed),
                           "no_difference": _scenario(design, 0.0, sd, reps, seed)}}
