"""Which arithmetic a run trains in: bf16 autocast or fp32 (``--precision``)."""
from __future__ import annotations

import functools


@functools.cache  # asked at every step
def cpu_has_native_bf16() -> bool:
    """Whether this CPU has bf16 dot products in hardware (AVX512_BF16 or AMX), where bf16
    autocast trains faster than fp32 (SE-ResNet-20 step 1.44x, README "Performance")."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            flags = next((line for line in cpuinfo if line.startswith("flags")), "").split()
    except OSError:  # not Linux: only torch's own view of the CPU is left
        import torch

        return torch.backends.cpu.get_cpu_capability() == "AMX"
    return "avx512_bf16" in flags or "amx_bf16" in flags


def uses_bf16(precision: str, device: str) -> bool:
    """Whether a run on ``device`` autocasts to bf16 (which, unlike fp16, needs no loss scaling):
    with ``auto``, on CUDA and on CPUs with native bf16."""
    if precision != "auto":
        return precision == "bf16"
    return device.startswith("cuda") or (device == "cpu" and cpu_has_native_bf16())
