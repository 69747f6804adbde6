"""`--precision auto` on a CPU: bf16 where the CPU has native bf16 dot products, else fp32;
the record says which."""
from __future__ import annotations

import pytest

from spe_analysis.training import precision
from spe_analysis.training.config import resolve_config
from spe_analysis.training.outcome import Outcome, make_record
from spe_analysis.training.precision import uses_bf16


@pytest.mark.parametrize("native,expected", [(True, "bf16"), (False, "fp32")])
def test_auto_precision_on_cpu_follows_native_bf16(monkeypatch, native, expected):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)
    assert uses_bf16("auto", "cpu") is native
    assert uses_bf16("auto", "cuda") and uses_bf16("bf16", "cpu") and not uses_bf16("fp32", "cpu")
    record = make_record(resolve_config(epochs=1), Outcome(), "cpu", "2026-01-01T00:00:00Z")
    assert record["env"]["precision"] == expected and record["env"]["fused"] == 1
    assert record["config"]["precision"] == "auto"  # the run id does not change


def test_native_bf16_is_read_from_the_cpu_flags(monkeypatch, tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    real_open = open
    monkeypatch.setattr("builtins.open", lambda path, *a, **k: real_open(
        cpuinfo if path == "/proc/cpuinfo" else path, *a, **k))
    for flags, native in (("fpu sse avx512f avx512_bf16", True), ("fpu amx_bf16", True), ("fpu sse avx2", False)):
        cpuinfo.write_text(f"processor : 0\nflags : {flags}\n")
        precision.cpu_has_native_bf16.cache_clear()
        assert precision.cpu_has_native_bf16() is native
    precision.cpu_has_native_bf16.cache_clear()
