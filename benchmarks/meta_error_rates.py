"""Error rates of spe meta's pooled tests with few settings and few seeds (docs/meta.md).

For k settings with n seeds per arm: how often the pooled difference test rejects a true
null (every true delta 0, no heterogeneity unless --tau) and how often the pooled TOST
declares equivalence when every true delta sits at the margin, at alpha 0.05, for each
``--ci`` method.  Runs spe's own code (spe_analysis.stats.meta_simulation), seeded.

    python benchmarks/meta_error_rates.py [--reps 10000] [--ci hksj-floor,hksj] [--k 3,5]
        [--seeds 3,5,10] [--tau 0] [--method-re pm]
"""
from __future__ import annotations

import argparse

from spe_analysis.stats.meta_simulation import error_rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=10_000)
    parser.add_argument("--ci", default="hksj-floor,hksj")
    parser.add_argument("--k", default="3,5")
    parser.add_argument("--seeds", default="3,5,10")
    parser.add_argument("--tau", type=float, default=0.0, help="between-setting SD of the true deltas (points)")
    parser.add_argument("--method-re", default="pm")
    args = parser.parse_args()
    print(f"pooled tests at alpha 0.05, {args.reps} meta-analyses per row, tau {args.tau:g} "
          f"(difference: delta 0, SD 1; equivalence: delta = margin 0.5, SD 0.5), {args.method_re}")
    print("| --ci | k | seeds per arm | difference test rejects | false equivalence | MC SE |")
    print("|---|---|---|---|---|---|")
    for ci in args.ci.split(","):
        for k in map(int, args.k.split(",")):
            for n in map(int, args.seeds.split(",")):
                rates = error_rates(k, n, args.reps, ci=ci, tau=args.tau, method_re=args.method_re,
                                    seed=1000 * k + n)
                print(f"| {ci} | {k} | {n} | {rates['difference']:.4f} | "
                      f"{rates['false_equivalence']:.4f} | {rates['mc_se']:.4f} |", flush=True)


if __name__ == "__main__":
    main()
