"""Shared test helpers: run the ``spe`` command line in-process and capture what it prints;
and the check that a test CI set up for does not skip (SPE_CI_REQUIRE)."""
from __future__ import annotations

import contextlib
import io
import os
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


# Tests that need something outside the package (a Slurm cluster, a Debian data package, R's
# metafor) carry @pytest.mark.needs("slurm" | "fashion-mnist" | "metafor") and skip, saying
# why, where it is missing.  CI installs them and names them in SPE_CI_REQUIRE (comma list):
# there such a skip is a failure, so a broken install cannot pass as a green run.
REQUIRE_ENV = "SPE_CI_REQUIRE"


def required() -> set[str]:
    return {name.strip() for name in os.environ.get(REQUIRE_ENV, "").split(",") if name.strip()}


def pytest_configure(config):
    config.addinivalue_line("markers", "needs(what): the test needs an installed extra (slurm, "
                                       f"fashion-mnist, metafor); a skip fails when {REQUIRE_ENV} names it")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    if not report.skipped or hasattr(report, "wasxfail"):
        return
    missing = [mark.args[0] for mark in item.iter_markers("needs") if mark.args[0] in required()]
    if missing:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = (f"{REQUIRE_ENV} says CI set up {', '.join(missing)}, but the test skipped: "
                           f"{reason}")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keep the dataset cache of the tests out of the user's cache folder, shared per session."""
    monkeypatch.setenv("SPE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "spe-cache"))


@pytest.fixture
def cifar_jpeg() -> Path:
    if not CIFAR_JPEG.exists():
        pytest.skip(f"{CIFAR_JPEG} not present")
    return CIFAR_JPEG
