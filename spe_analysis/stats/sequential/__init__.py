"""The group-sequential design, in one place: its boundaries and the decision at one look
(``design``), a sweep's looks replayed from its records (``replay``: what a sequential sweep
runs next and what ``spe stats`` reports, so the two always agree), and a design planned by
simulation (``plan``: power and expected runs, ``spe plan --looks``).  Arrays in, numbers out;
the sweep that runs the looks is :mod:`spe_analysis.sweep.sequential`.
"""
from .design import (BETTER, CONTINUE, DECISIONS, EQUIVALENT, SPENDING_NAMES, WORSE, Design, boundaries, decide,
                     nominal_p, parse_looks, spent, welch_moments, welch_p)
from .plan import plan_sequential, run_looks, simulate
from .replay import analyze_sequential, compare_sequential, recorded_seeds, replay

__all__ = ["BETTER", "CONTINUE", "DECISIONS", "EQUIVALENT", "SPENDING_NAMES", "WORSE", "Design", "analyze_sequential",
           "boundaries", "compare_sequential", "decide", "nominal_p", "parse_looks", "plan_sequential",
           "recorded_seeds", "replay", "run_looks", "simulate", "spent", "welch_moments", "welch_p"]
