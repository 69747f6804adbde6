"""How often ``spe meta --moderator`` finds a slope that is not there: the rejection rate of the
omnibus moderator test (QM) when the true slope is 0, by simulation.

Each replicate is k settings with ``seeds`` runs per arm: a setting's avg runs score
N(base_i, sd^2), its cell's runs N(base_i + delta_i, sd^2), with delta_i = mu + u_i and
u_i ~ N(0, tau2) whatever the moderator.  As spe meta does, a setting's effect is
mean(cell) - mean(avg) with the variance the pooled model pools for the interval method
(:func:`~spe_analysis.stats.meta.within_variance`: sd_cell^2 / n + sd_avg^2 / n with sample
SDs, t-based under ``hksj-floor``), and the effects are regressed on the moderator: ``budget`` (fixed values 1..k, like a training budget)
or ``baseline_acc`` (the setting's observed avg mean, which shares the avg arm's noise with the
effect; the true baselines are spread by ``--base-spread`` points).  The rate is the share of
replicates with QM p < 0.05, printed with its Monte Carlo standard error.

    python3 benchmarks/meta_regression_null.py [--reps 4000] [--k 6] [--seeds 5] [--seed 0]
"""
from __future__ import annotations

import argparse
import itertools
import math

import numpy as np

from spe_analysis.stats.meta import CI_METHODS, DEFAULT_CI, within_variance
from spe_analysis.stats.meta_regression import fit

MODERATORS = ("budget", "baseline_acc")
ALPHA = 0.05


def replicates(rng: np.random.Generator, reps: int, *, k: int = 6, seeds: int = 5,
               tau2: float = 0.0, sd: float = 0.5, moderator: str = "budget",
               base_spread: float = 5.0, ci: str = DEFAULT_CI) -> dict[str, np.ndarray]:
    """``reps`` simulated replicates (see the module): the runs (``avg``, ``cell``: reps x k x
    seeds), each setting's effect ``y``, its variance ``v`` under ``ci`` and moderator value
    ``x`` (reps x k).  The draws do not depend on ``ci``."""
    base = 80.0 + base_spread * rng.standard_normal((reps, k))
    delta = -0.5 + math.sqrt(tau2) * rng.standard_normal((reps, k))
    avg = base[..., None] + sd * rng.standard_normal((reps, k, seeds))
    cell = (base + delta)[..., None] + sd * rng.standard_normal((reps, k, seeds))
    x = np.broadcast_to(np.arange(1.0, k + 1), (reps, k)) if moderator == "budget" else avg.mean(-1)
    variance = np.vectorize(lambda sd_cell, sd_avg: within_variance(sd_cell, seeds, sd_avg, seeds, ci))
    return {"avg": avg, "cell": cell, "y": cell.mean(-1) - avg.mean(-1),
            "v": variance(cell.std(-1, ddof=1), avg.std(-1, ddof=1)), "x": x}


def null_rejection_rate(rng: np.random.Generator, reps: int, *, method_re: str = "pm",
                        ci: str = DEFAULT_CI, moderator: str = "budget", **design) -> float:
    """Share of ``reps`` simulated replicates whose QM p is below ALPHA; ``design`` as in
    :func:`replicates`."""
    data = replicates(rng, reps, moderator=moderator, ci=ci, **design)
    k = data["y"].shape[1]
    rejected = sum(fit(data["y"][r], data["v"][r], np.column_stack([np.ones(k), data["x"][r]]),
                       ["intercept", moderator], method_re, ci).qm_p < ALPHA for r in range(reps))
    return rejected / reps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=4000)
    parser.add_argument("--k", type=int, default=6, help="settings per replicate")
    parser.add_argument("--seeds", type=int, default=5, help="runs per arm and setting")
    parser.add_argument("--sd", type=float, default=0.5, help="seed-to-seed SD (points)")
    parser.add_argument("--base-spread", type=float, default=5.0,
                        help="SD of the true avg baselines across settings (points)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    se = math.sqrt(ALPHA * (1 - ALPHA) / args.reps)
    print(f"k = {args.k} settings, {args.seeds} seeds per arm, seed SD {args.sd}, no true slope; "
          f"{args.reps} replicates each (Monte Carlo SE at 5%: {100 * se:.2f} points)")
    print(f"{'moderator':>12} {'tau2':>5} {'method':>6} " + " ".join(f"{c:>10}" for c in CI_METHODS))
    for moderator, tau2, method_re in itertools.product(MODERATORS, (0.0, 0.25, 1.0), ("pm", "dl")):
        rates = [null_rejection_rate(np.random.default_rng(args.seed), args.reps, k=args.k,
                                     seeds=args.seeds, tau2=tau2, sd=args.sd, moderator=moderator,
                                     base_spread=args.base_spread, method_re=method_re, ci=ci)
                 for ci in CI_METHODS]
        print(f"{moderator:>12} {tau2:>5g} {method_re:>6} "
              + " ".join(f"{100 * r:>9.2f}%" for r in rates), flush=True)


if __name__ == "__main__":
    main()
