"""Print the numbers behind the README's learned-pool (lambda dynamics) findings.

    python scripts/lambda_summary.py DIR [DIR ...]

For each sweep directory's learned runs: the median per-step turn of p and its ratio to the
predicted equilibrium turn (over blocks, seeds and the given epochs), the median |p| after the
last epoch, and how far lam still moves between the last two epochs.
"""
from __future__ import annotations

import argparse

import numpy as np

from spe_analysis.plots import load_sweep
from spe_analysis.plots.dynamics import predicted_turns
from spe_analysis.plots.lam import learned_runs


def summarize(directory: str, epochs: list[int] | None) -> dict:
    runs = learned_runs(load_sweep(directory), "p_turn")
    turns, ratios, norms, moves = [], [], [], []
    for run in runs:
        predicted = predicted_turns(run)
        previous = None
        for row, expected in zip(run["history"], predicted):
            if epochs is None or row["epoch"] in epochs:
                turns += row["p_turn"]
                ratios += [t / expected for t in row["p_turn"]]
                if previous is not None:
                    moves += [abs(a - b) for a, b in zip(row["lam"], previous["lam"])]
            previous = row
        norms += run["history"][-1]["p_norm"]
    return {"dir": directory, "pool_reg": runs[0]["config"]["pool_reg"], "seeds": len(runs),
            "median turn (deg/step)": np.median(turns), "median turn / predicted": np.median(ratios),
            "median final |p|": np.median(norms), "median |lam change| per epoch": np.median(moves)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+")
    parser.add_argument("--epochs", help="comma list of epochs for the turn statistics (default: all)")
    args = parser.parse_args()
    epochs = [int(e) for e in args.epochs.split(",")] if args.epochs else None
    rows = [summarize(d, epochs) for d in args.dirs]
    print("| " + " | ".join(rows[0]) + " |")
    print("|" + "---|" * len(rows[0]))
    for row in rows:
        print("| " + " | ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in row.values()) + " |")


if __name__ == "__main__":
    main()
