"""Writes the reference records of tests/test_training_reference.py.

Run once, before a change to the training code, with the code whose records are the
reference:  python tests/reference/training/make_reference.py
The records were written by commit 880f5cc (before the one-loop refactor, issue #25).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parents[1]))
from test_training_reference import CONFIGS, train_references  # noqa: E402

if __name__ == "__main__":
    for name, record in train_references(HERE / "out").items():
        (HERE / f"{name}.json").write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        print(name, record["run_id"], record["metrics"]["final_test_acc"])
