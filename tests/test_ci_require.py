"""SPE_CI_REQUIRE: where CI installed what a needs(X) test needs, that test skipping fails."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

from conftest import REPO

SAMPLE = '''
import pytest

@pytest.mark.needs("slurm")
def test_needs_slurm():
    pytest.skip("no Slurm here")

def test_plain():
    pytest.skip("not needed")
'''


def _pytest(folder, require: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SPE_CI_REQUIRE": require, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(folder)],
                          capture_output=True, text=True, env=env, cwd=folder, timeout=300)


def test_a_required_test_that_skips_fails_and_says_why(tmp_path):
    shutil.copy(REPO / "tests" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    free = _pytest(tmp_path, "")
    assert free.returncode == 0, free.stdout
    assert "no Slurm here" in free.stdout  # a skip says why
    strict = _pytest(tmp_path, "fashion-mnist,slurm")
    assert strict.returncode == 1, strict.stdout
    assert "1 failed" in strict.stdout and "1 skipped" in strict.stdout
    assert "SPE_CI_REQUIRE says CI set up slurm, but the test skipped" in strict.stdout
