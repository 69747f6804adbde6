"""Statistics of a sweep: does a mix cell match or beat the avg baseline?

Small functional modules, arrays in and numbers out, no hidden state:
hypothesis (p-values), corrections (Holm, BH, BY, Dunnett), effects (Hedges' g, probability
of superiority), intervals (CI of delta), planning (seeds needed), verdicts (CONTRACT.md
rules and the claim), cells (records -> samples), correlation (seed pairing), analysis
(all of it for one sweep), tables (CSV and Markdown); sequential/ (the group-sequential
design: boundaries and decisions, replaying a sweep's looks, planning by simulation); meta (random-effects pooling
across settings), meta_simulation (its error rates by simulation), across_settings (several
settings -> spe.meta/1), meta_tables (its CSV and Markdown).
"""
from .analysis import analyze, compare, sweep_spread
from .cells import split_groups
from .correlation import seed_correlation, seed_pairing
from .planning import comparison_alpha, plan, seeds_for_equivalence, seeds_to_detect

__all__ = ["analyze", "compare", "split_groups", "sweep_spread", "seed_correlation",
           "seed_pairing", "comparison_alpha", "plan", "seeds_to_detect", "seeds_for_equivalence"]
