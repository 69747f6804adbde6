"""The command outputs quoted in the README are what the commands print from the committed
records (scripts/readme_outputs.py keeps them so)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "readme_outputs.py"


def outputs(*args: str):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=ROOT)


def test_the_readme_quotes_what_the_commands_print():
    assert "<!-- output: spe stats" in (ROOT / "README.md").read_text()
    result = outputs("--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_stale_output_is_named_and_rewritten(tmp_path):
    readme = tmp_path / "README.md"
    fresh = (ROOT / "README.md").read_text()
    readme.write_text(fresh.replace("| avg (baseline) | 5 | 73.24 |", "| avg (baseline) | 5 | 99.99 |"))
    stale = outputs("--check", "--readme", str(readme))
    assert stale.returncode == 1 and "spe stats figures/data/cifar10-se-resnet20" in stale.stdout
    assert outputs("--readme", str(readme)).returncode == 0
    assert readme.read_text() == fresh
