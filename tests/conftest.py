"""Shared test helpers: run the ``spe`` command line in-process and capture what it prints."""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

import pytest

from spe_analysis.cli import main

REPO = Path(__file__).resolve().parents[1]
CIFAR_JPEG = REPO.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


def run_spe(*args: str) -> Result:
    """Invoke ``spe ARGS`` in this process; return exit code and captured output."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return Result(code, out.getvalue(), err.getvalue())


def assert_usage_error(result: Result, *fragments: str) -> None:
    """Exit 2, exactly one line on stderr, no traceback, and the line mentions each fragment."""
    assert result.code == 2, (result.code, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment.lower() in lines[0].lower(), lines[0]


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keep the dataset cache of the tests out of the user's cache folder, shared per session."""
    monkeypatch.setenv("SPE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "spe-cache"))


@pytest.fixture
def cifar_jpeg() -> Path:
    if not CIFAR_JPEG.exists():
        pytest.skip(f"{CIFAR_JPEG} not present")
    return CIFAR_JPEG
