"""The per-channel global max and min with their positions, in one autograd node.

``mix`` and ``learned`` need both extremes; finding them with their indices in one node that
writes one gradient tensor keeps ``alpha * max + beta * min`` within about 2x the cost of a
plain mean, forward plus backward (``benchmarks/bench_pooling.py``); ``amax + amin`` through
autograd costs 8-15x.  The gradient goes to the one position holding each extremum, as
``torch.max(dim)`` routes it, not spread over ties as ``amax`` spreads it.
"""
from __future__ import annotations

import functools
import math

import torch


FOLD = 8  # see _extreme


def _extreme(flat: torch.Tensor, largest: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Max (or min) over the last axis of (B, C, L), with its index.

    torch's index-tracking reduction is not vectorised on CPU (about 3x a plain amax), so
    there a contiguous L is first folded into FOLD rows and reduced across them with a
    vectorised amax; the indexed reduction then runs on L / FOLD values, and one gather of
    FOLD candidates per channel says which row held the extremum.  On GPUs, where each extra
    kernel launch costs more than the reduction, the indexed reduction runs directly.
    """
    batch, channels, length = flat.shape
    rows = math.gcd(length, FOLD) if flat.stride(2) == 1 and flat.device.type == "cpu" else 1
    if rows == 1:  # GPU, channels_last (strided L) or L not divisible: reduce directly
        return flat.max(2) if largest else flat.min(2)
    blocks = flat.view(batch, channels, rows, length // rows)
    folded = blocks.amax(2) if largest else blocks.amin(2)
    value, column = folded.max(2) if largest else folded.min(2)
    candidates = blocks.gather(3, column[:, :, None, None].expand(batch, channels, rows, 1))
    row = candidates.squeeze(3).argmax(2) if largest else candidates.squeeze(3).argmin(2)
    return value, row * (length // rows) + column


@functools.lru_cache(maxsize=64)
def _cell_offsets(batch: int, channels: int, batch_stride: int, channel_stride: int,
                  device: torch.device) -> torch.Tensor:
    """Memory offset of each (sample, channel)'s first element; cached, as every step reuses it."""
    return (torch.arange(batch, device=device)[:, None] * batch_stride
            + torch.arange(channels, device=device) * channel_stride)


def _put(grad: torch.Tensor, at: torch.Tensor, values: torch.Tensor) -> None:
    """``grad[b, c].flatten()[at[b, c]] = values[b, c]`` for (B, C, H, W) ``grad`` of either layout.

    On CPU through memory offsets with index_put_: scatter_ on bf16 CPU tensors is 50-150x
    slower than on fp32 (it made mix cost 1.2x avg per bf16 training step).  On CUDA scatter_
    measured faster (bench_pooling on an H200, channels_last: 2.5x avg against 3.3x).
    """
    flat = grad.view(grad.shape[0], grad.shape[1], -1)
    if grad.device.type != "cpu":
        flat.scatter_(2, at.unsqueeze(2), values.unsqueeze(2))
        return
    batch_stride, channel_stride, position_stride = flat.stride()
    cells = _cell_offsets(grad.shape[0], grad.shape[1], batch_stride, channel_stride, grad.device)
    memory = grad.as_strided((grad.numel(),), (1,))
    memory.index_put_((torch.add(cells, at, alpha=position_stride).flatten(),), values.flatten())


class _GlobalMaxMin(torch.autograd.Function):
    """Per-channel global max and min of (B, C, H, W), each with the index it came from."""

    @staticmethod
    def forward(ctx, x):
        flat = x.flatten(2)  # a view for contiguous and channels_last layouts
        high, high_at = _extreme(flat, largest=True)
        low, low_at = _extreme(flat, largest=False)
        ctx.save_for_backward(high_at, low_at)
        ctx.layout = (x.shape, x.dtype, _memory_format(x))
        return high[..., None, None], low[..., None, None]

    @staticmethod
    def backward(ctx, grad_high, grad_low):
        high_at, low_at = ctx.saved_tensors
        shape, dtype, memory_format = ctx.layout
        grad = torch.empty(shape, dtype=dtype, device=high_at.device,
                           memory_format=memory_format).zero_()
        grad_high, grad_low = grad_high.flatten(1).to(dtype), grad_low.flatten(1).to(dtype)
        _put(grad, low_at, grad_low)
        # A constant channel has max and min at one position, which then gets both.  Writing
        # (not adding) each index once stays deterministic on CUDA.
        _put(grad, high_at, grad_high + grad_low * (high_at == low_at))
        return grad


def _memory_format(x: torch.Tensor) -> torch.memory_format:
    channels_last = x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(
        memory_format=torch.channels_last)
    return torch.channels_last if channels_last else torch.contiguous_format


def global_max_min(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(amax, amin)`` over (H, W), each (B, C, 1, 1), from one backward node."""
    return _GlobalMaxMin.apply(x)
