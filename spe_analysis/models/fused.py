"""K same-shaped models as one (horizontal fusion, HFTA: Wang et al., MLSys 2021).

:func:`fuse_models` takes K models built by :func:`~spe_analysis.models.make_model` that
differ only in pool (type, alpha, beta) and weights, and returns one :class:`FusedModel`
whose channels are the K models' channels side by side: the weights of each convolution and
of the classifier are the K runs' stacked, each BatchNorm is one over K x C channels (its
statistics are per channel, so per run), each pool the run's own pool on the run's channels.  Every operation keeps the K runs apart, so with the K losses summed each
run's parameters get exactly its own gradient, and SGD (momentum and weight decay are
elementwise) gives each its own step.

The kernels come two ways (``kernels``).  ``grouped`` (the default): each convolution is one
grouped convolution with K times the groups, each attention module one module over K x C
channels, the classifier one batched matrix product: one launch for K runs, what pays where
small kernels are launch-bound (GPUs).  Their sums run in another order than a run's own
(about 1e-7 relative), which training amplifies as it amplifies a change of thread count.
``split`` (for ``--deterministic``): whatever sums in an order that depends on the channel
count or the number of runs runs per run, through the run's own kernels: each convolution
and the classifier on the run's channel block with its own weights, each attention module
(whose pooling and gating sum over space) the run's own module.  That is bit for bit what
the run's own model computes, at the cost of a copy per layer.

The fused model owns what it is given: the runs' pools (learned ones keep their own p),
and with ``split`` kernels their attention modules, are the given models' own modules.

The fused model takes a (K, B, C, H, W) batch, run k's batch at index k, and returns
(K, B, classes) logits.  :func:`split_state` gives run k's parameters and buffers under
the names of its own model.
"""
from __future__ import annotations

import copy
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import SpeError
from ..pooling import GlobalPool, LearnedPool, MixPool, global_max_min


def _cat(tensors, dim: int) -> torch.Tensor:
    return torch.cat([t.detach() for t in tensors], dim).clone()


class _Split:
    """Fused leaves: ``_dims`` maps each own parameter or buffer to the axis the K runs'
    copies are concatenated along; ``_shapes`` gives one run's shape.  Others are shared."""
    _dims: dict[str, int] = {}
    _shapes: dict[str, torch.Size] = {}

    def split(self, k: int, runs: int, grad: bool = False) -> dict[str, torch.Tensor]:
        own = [(n, p.grad) for n, p in self.named_parameters(recurse=False)] if grad else \
            list(self.named_parameters(recurse=False)) + list(self.named_buffers(recurse=False))
        return {name: (t.chunk(runs, self._dims[name])[k].view(self._shapes[name]) if name in self._dims else t)
                for name, t in own if t is not None}


KERNELS = ("split", "grouped")


def _per_run(x: torch.Tensor, runs: int, weights, biases, forward) -> torch.Tensor:
    """``forward(part, weight, bias)`` for each run's channel block of ``x`` with its own weights,
    concatenated: the run's own ungrouped kernel, on input laid out as its own model lays it out."""
    layout = torch.channels_last if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) \
        else torch.contiguous_format
    biases = [None] * runs if biases is None else biases
    return torch.cat([forward(part.contiguous(memory_format=layout), weight, bias)
                      for part, weight, bias in zip(x.chunk(runs, 1), weights, biases)], 1)


def _chunks(param: torch.Tensor | None, runs: int):
    return None if param is None else param.chunk(runs)


class FusedConv2d(_Split, nn.Conv2d):
    def __init__(self, convs: list[nn.Conv2d], kernels: str):
        c, k = convs[0], len(convs)
        super().__init__(k * c.in_channels, k * c.out_channels, c.kernel_size, c.stride, c.padding,
                         c.dilation, k * c.groups, c.bias is not None, c.padding_mode)
        self.weight = nn.Parameter(_cat([m.weight for m in convs], 0))
        self._dims, self._shapes = {"weight": 0}, {"weight": c.weight.shape}
        if c.bias is not None:
            self.bias = nn.Parameter(_cat([m.bias for m in convs], 0))
            self._dims["bias"], self._shapes["bias"] = 0, c.bias.shape
        self.runs, self.kernels, self.run_groups = k, kernels, c.groups

    def forward(self, x):
        if self.kernels == "grouped":
            return super().forward(x)
        return _per_run(x, self.runs, self.weight.chunk(self.runs), _chunks(self.bias, self.runs),
                        lambda part, weight, bias: F.conv2d(part, weight, bias, self.stride, self.padding,
                                                            self.dilation, self.run_groups))


class FusedBatchNorm2d(_Split, nn.BatchNorm2d):
    def __init__(self, norms: list[nn.BatchNorm2d]):
        n = norms[0]
        super().__init__(len(norms) * n.num_features, n.eps, n.momentum, n.affine, n.track_running_stats)
        self.weight = nn.Parameter(_cat([m.weight for m in norms], 0))
        self.bias = nn.Parameter(_cat([m.bias for m in norms], 0))
        self.running_mean = _cat([m.running_mean for m in norms], 0)
        self.running_var = _cat([m.running_var for m in norms], 0)
        self.num_batches_tracked = n.num_batches_tracked.clone()  # the same count in every run
        self._dims = dict.fromkeys(("weight", "bias", "running_mean", "running_var"), 0)
        self._shapes = dict.fromkeys(self._dims, n.weight.shape)


class FusedLinear(_Split, nn.Module):
    """K linear layers, (B, K * F) -> (B, K * out): grouped, one batched matrix product (whose
    outputs equal each run's nn.Linear; its bias gradient sums in another order)."""

    def __init__(self, linears: list[nn.Linear], kernels: str):
        super().__init__()
        lin, self.runs, self.kernels = linears[0], len(linears), kernels
        self.weight = nn.Parameter(_cat([m.weight for m in linears], 0).view(self.runs, *lin.weight.shape))
        self.bias = nn.Parameter(_cat([m.bias for m in linears], 0).view(self.runs, 1, -1))
        self._dims = {"weight": 0, "bias": 0}
        self._shapes = {"weight": lin.weight.shape, "bias": lin.bias.shape}

    def forward(self, x):
        if self.kernels == "split":
            return _per_run(x, self.runs, self.weight, self.bias.flatten(1), F.linear)
        batch = x.shape[0]
        x = x.view(batch, self.runs, -1).transpose(0, 1)
        return torch.baddbmm(self.bias, x, self.weight.transpose(1, 2)).transpose(0, 1).reshape(batch, -1)


class FusedChannelConv(_Split, nn.Conv1d):
    """ECA's 1-D convolution across channels, each run's over its own channels only:
    (B, 1, K * C) -> (B, 1, K * C), zero-padded at each run's edges as alone."""

    def __init__(self, convs: list[nn.Conv1d], kernels: str):
        c, k = convs[0], len(convs)
        if c.in_channels != 1 or c.out_channels != 1:
            raise SpeError("only ECA's one-channel Conv1d can be fused")
        super().__init__(k, k, c.kernel_size, c.stride, c.padding, groups=k, bias=c.bias is not None)
        self.weight = nn.Parameter(_cat([m.weight for m in convs], 0))
        self._dims, self._shapes = {"weight": 0}, {"weight": c.weight.shape}
        if c.bias is not None:
            self.bias = nn.Parameter(_cat([m.bias for m in convs], 0))
            self._dims["bias"], self._shapes["bias"] = 0, c.bias.shape
        self.runs, self.kernels = k, kernels

    def forward(self, y):
        batch = y.shape[0]
        y = y.reshape(batch, self.runs, -1)
        if self.kernels == "grouped":
            return super().forward(y).reshape(batch, 1, -1)
        return _per_run(y, self.runs, self.weight.chunk(self.runs), _chunks(self.bias, self.runs),
                        lambda part, weight, bias: F.conv1d(part, weight, bias, self.stride,
                                                            self.padding)).reshape(batch, 1, -1)


class PerRun(nn.Module):
    """K modules, each on its run's channel block, laid out as in the run's own model."""

    def __init__(self, modules: list[nn.Module]):
        super().__init__()
        self.runs, self.each = len(modules), nn.ModuleList(modules)

    def forward(self, x):
        return torch.cat([module(part.contiguous(memory_format=torch.channels_last))
                          for module, part in zip(self.each, x.chunk(self.runs, 1))], 1)

    def split(self, k: int, runs: int, grad: bool = False) -> dict[str, torch.Tensor]:
        module = self.each[k]
        if grad:
            return {name: p.grad for name, p in module.named_parameters() if p.grad is not None}
        return module.state_dict(keep_vars=True)


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The precision in which a Python number multiplies ``x`` (float32 for 16-bit ``x``)."""
    return torch.promote_types(x.dtype, torch.float32)


class FusedPool(GlobalPool):
    """The K runs' own pools side by side, one equal channel block per run.

    Runs with the same pool type must be neighbours: each such segment is pooled once by
    the pool type's own functions (the same values and gradient routing as alone), with
    per-channel weights where alpha, beta or a learned lam differ between its runs.  Each
    weight is the one the run's own pool uses, in the precision it is multiplied in alone:
    alpha and beta in :func:`compute_dtype` (float32 under bf16 autocast), a learned lam
    rounded to x's dtype; so the pool and a SPEM host around it give each run its own values
    bit for bit in fp32, fp64 and under autocast.
    """

    def __init__(self, pools: list[GlobalPool]):
        super().__init__()
        self.runs = len(pools)
        self.segments: list[tuple[type, int, int]] = []  # (pool type, first run, end run)
        for k, pool in enumerate(pools):
            if self.segments and self.segments[-1][0] is type(pool):
                self.segments[-1] = (type(pool), self.segments[-1][1], k + 1)
            elif any(kind is type(pool) for kind, _, _ in self.segments):
                raise SpeError("fuse runs with the same pool next to each other")
            else:
                self.segments.append((type(pool), k, k + 1))
        # Learned runs keep their own LearnedPool (their own p), so the trainer can treat
        # each run's pools as those of a model of its own.
        self.learned = nn.ModuleList([p for p in pools if isinstance(p, LearnedPool)])
        self._pools = pools
        for name in ("alpha", "beta"):  # float64: each run's Python number exactly
            values = [getattr(p, name) if isinstance(p, MixPool) else 0.0 for p in pools]
            self.register_buffer(name, torch.tensor(values, dtype=torch.float64), persistent=False)

    def _per_channel(self, weights: torch.Tensor, x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """One weight per run -> one per channel of those runs, (1, runs * C, 1, 1), in ``dtype``."""
        return weights.to(dtype).repeat_interleave(x.shape[1] // self.runs).view(1, -1, 1, 1)

    def _segment(self, kind: type, first: int, end: int, x: torch.Tensor):
        width = x.shape[1] // self.runs
        part = x[:, first * width:end * width]
        if kind is MixPool:
            # Alone, alpha and beta are Python numbers, which multiply x in its compute precision
            # (float32 for 16-bit x): never rounded to x's dtype (bf16 makes 0.3 0.30078125).
            high, low = global_max_min(part)
            return (high, low, self._per_channel(self.alpha[first:end], x, compute_dtype(x)),
                    self._per_channel(self.beta[first:end], x, compute_dtype(x)))
        if kind is LearnedPool:  # lam in x's dtype, as LearnedPool.terms gives it
            high, low = global_max_min(part)
            lam = self._per_channel(torch.stack([p.lam for p in self._pools[first:end]]), x, x.dtype)
            return high, low, lam, 1 - lam
        return self._pools[first].terms(part)

    def terms(self, x):
        parts = [self._segment(kind, first, end, x) for kind, first, end in self.segments]
        if len(parts) == 1:
            return parts[0]

        def weights(i: int) -> torch.Tensor:  # a python-number weight covers its whole segment
            return torch.cat([torch.as_tensor(p[i], dtype=compute_dtype(x), device=x.device).expand_as(p[0][:1])
                              for p in parts], 1)
        return torch.cat([p[0] for p in parts], 1), torch.cat([p[1] for p in parts], 1), weights(2), weights(3)

    def forward(self, x):
        width = x.shape[1] // self.runs
        outs = []
        for kind, first, end in self.segments:
            if kind in (MixPool, LearnedPool):
                a, b, wa, wb = self._segment(kind, first, end, x)
                # Each product rounded to x's dtype, as a weight times x is alone.
                outs.append((wa * a).to(x.dtype) + (wb * b).to(x.dtype))
            else:  # the pool's own forward: a single statistic comes back unweighted, as alone
                outs.append(self._pools[first](x[:, first * width:end * width]))
        return outs[0] if len(outs) == 1 else torch.cat(outs, 1)

    def split(self, k: int, runs: int, grad: bool = False) -> dict[str, torch.Tensor]:
        pool = self._pools[k]
        if not isinstance(pool, LearnedPool) or (grad and pool.p.grad is None):
            return {}
        return {"p": pool.p.grad if grad else pool.p}


_SPLIT_ALONG_CHANNELS = "_channel_parameters"  # set on fused shells whose own parameters are (1, C, 1, 1)


def _fuse(modules: list[nn.Module], kernels: str) -> nn.Module:
    first = modules[0]
    if any(type(m) is not type(first) for m in modules) and not isinstance(first, GlobalPool):
        raise SpeError(f"cannot fuse different modules: {sorted({type(m).__name__ for m in modules})}")
    if isinstance(first, nn.Conv2d):
        return FusedConv2d(modules, kernels)
    if isinstance(first, nn.BatchNorm2d):
        return FusedBatchNorm2d(modules)
    if isinstance(first, nn.Linear):
        return FusedLinear(modules, kernels)
    if isinstance(first, nn.Conv1d):
        return FusedChannelConv(modules, kernels)
    if isinstance(first, GlobalPool):
        return FusedPool(modules)
    if kernels == "split" and any(isinstance(child, GlobalPool) for child in first.children()):
        return PerRun(modules)  # an attention host: its pooling and gating sum over space
    # A container or host: the same forward over fused children.  Its own parameters (SPEM's
    # w1, b1, w2, b2, each (1, C, 1, 1)) are concatenated along the channel axis.
    shell = copy.copy(first)
    shell._modules, shell._parameters, shell._buffers = OrderedDict(), OrderedDict(), OrderedDict()
    for name, param in first.named_parameters(recurse=False):
        if param.dim() != 4 or param.shape[0] != 1 or param.shape[2:] != (1, 1):
            raise SpeError(f"cannot fuse {type(first).__name__}.{name} of shape {tuple(param.shape)}")
        shell._parameters[name] = nn.Parameter(_cat([m._parameters[name] for m in modules], 1))
    if any(True for _ in first.buffers(recurse=False)):
        raise SpeError(f"cannot fuse {type(first).__name__}: it has buffers of its own")
    shell.__dict__[_SPLIT_ALONG_CHANNELS] = tuple(shell._parameters)
    for name in first._modules:
        shell._modules[name] = _fuse([m._modules[name] for m in modules], kernels)
    return shell


class FusedModel(nn.Module):
    """K runs as one: (K, B, C, H, W) -> (K, B, classes)."""

    def __init__(self, models: list[nn.Module], kernels: str = "grouped"):
        super().__init__()
        if kernels not in KERNELS:
            raise SpeError(f"unknown kernels {kernels!r}; expected one of {', '.join(KERNELS)}")
        self.runs = len(models)
        self.net = _fuse(models, kernels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        runs, batch = x.shape[:2]
        # Run k's images become channel block k: (B, K * C, H, W), channels_last.
        x = x.permute(1, 0, 2, 3, 4).reshape(batch, -1, *x.shape[3:])
        logits = self.net(x.contiguous(memory_format=torch.channels_last))
        return logits.view(batch, runs, -1).transpose(0, 1)


def default_kernels(deterministic: bool) -> str:
    """Deterministic training reproduces each run's own bit for bit; otherwise one launch for K."""
    return "split" if deterministic else "grouped"


def fuse_models(models: list[nn.Module], kernels: str = "grouped") -> FusedModel:
    """One model training the K ``models`` at once (their weights copied, pools kept)."""
    if not models:
        raise SpeError("nothing to fuse")
    return FusedModel(models, kernels)


def split_state(fused: FusedModel, k: int, grad: bool = False) -> dict[str, torch.Tensor]:
    """Run k's parameters and buffers (views into the fused ones), named as in its own model;
    with ``grad``, its parameters' gradients instead."""
    out: dict[str, torch.Tensor] = {}

    def walk(module: nn.Module, prefix: str) -> None:
        if hasattr(module, "split"):
            out.update({prefix + name: t for name, t in module.split(k, fused.runs, grad).items()})
            return
        for name in getattr(module, _SPLIT_ALONG_CHANNELS, ()):
            param = module._parameters[name]
            if (param.grad if grad else param) is not None:
                out[prefix + name] = (param.grad if grad else param).chunk(fused.runs, 1)[k]
        for name, child in module.named_children():
            walk(child, f"{prefix}{name}.")

    walk(fused.net, "")
    return out


class OwnModel(nn.Module):
    """A group of one run: the run's own model, unfused (its own kernels, at its own speed), in
    the shapes of a fused model, (1, B, C, H, W) -> (1, B, classes)."""
    runs = 1

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x[0]).unsqueeze(0)


def group_model(models: list[nn.Module], kernels: str = "grouped") -> nn.Module:
    """The one model a group of runs trains: a run's own model alone, else the fused model."""
    return OwnModel(models[0]) if len(models) == 1 else fuse_models(models, kernels)
