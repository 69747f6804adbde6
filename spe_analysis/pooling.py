"""Global pooling strategies: (B, C, H, W) -> (B, C, 1, 1).

Every pool is the weighted sum of two per-channel statistics, ``wa * a + wb * b``, and says
so through :meth:`GlobalPool.terms`; a single-statistic pool reports ``(s, s, 1/2, 1/2)``.
Attention hosts that look inside the pool (SPEM reweights max and min separately) use
``terms``; every other host just calls the pool.

``max``/``min``/``mix``/``learned`` route their gradient to the one position holding each
extremum, as ``torch.max(dim)`` does, instead of spreading it over ties as ``amax`` does;
on tie-free input the two agree.  ``mix`` and ``learned`` find max and min with their
indices in one autograd node that writes one gradient tensor, which keeps
``alpha * max + beta * min`` within about 2x the cost of a plain mean, forward plus
backward (``benchmarks/bench_pooling.py``); ``amax + amin`` through autograd costs 8-15x.

The other squeeze statistics of the literature are single statistics: ``lse`` (temperature
r, from avg at r -> 0 to max at r -> infinity), ``gem`` (exponent p), ``meanstd`` (mean +
lambda * std, SRM's style pooling with a fixed weight) and ``dct`` (FcaNet's multi-spectral
pooling).  A parametric pool is named with its parameter, ``lse:4``, everywhere: on the
command line, in ``--also``, in ``make_pool`` and as the cell of a sweep; the run's config
holds the name and the parameter apart (``pool``, ``pool_param``).  Any other
``MODULE:FACTORY`` or a name under the ``spe.pools`` entry-point group is a user's own pool
(:mod:`spe_analysis.pool_plugins`).
"""
from __future__ import annotations

import functools
import math

import torch
from torch import nn

from . import names, pool_plugins
from .errors import SpeError, finite
from .pool_labels import PARAMETERS, POOL_ACCEPTED, parameter_text, pool_label


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


class GlobalPool(nn.Module):
    """A pool ``wa * a + wb * b`` of two per-channel statistics; see :meth:`terms`."""

    def terms(self, x: torch.Tensor):
        """``(a, b, wa, wb)`` with ``self(x) == wa * a + wb * b``; ``a``, ``b`` are (B, C, 1, 1)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b, wa, wb = self.terms(x)
        return wa * a + wb * b


def global_avg(x: torch.Tensor) -> torch.Tensor:
    return x.mean((2, 3), keepdim=True)


def global_max(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(2).max(2).values[..., None, None]


def global_min(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(2).min(2).values[..., None, None]


class _SingleStatistic(GlobalPool):
    statistic = None  # a static function (B, C, H, W) -> (B, C, 1, 1), set by each subclass

    def terms(self, x):
        s = self.statistic(x)
        return s, s, 0.5, 0.5

    def forward(self, x):
        return self.statistic(x)


class AvgPool(_SingleStatistic):
    """Global average pooling, the SE/ECA baseline."""
    statistic = staticmethod(global_avg)


class MaxPool(_SingleStatistic):
    """Global max pooling."""
    statistic = staticmethod(global_max)


class MinPool(_SingleStatistic):
    """Global min pooling."""
    statistic = staticmethod(global_min)


class AvgMaxPool(GlobalPool):
    """``0.5 * avg + 0.5 * max``, as timm's SE ``add_maxpool``."""

    def terms(self, x):
        return global_avg(x), global_max(x), 0.5, 0.5


class MixPool(GlobalPool):
    """``alpha * max + beta * min`` with fixed real alpha and beta (negatives allowed)."""

    def __init__(self, alpha: float, beta: float):
        super().__init__()
        self.alpha, self.beta = alpha, beta

    def terms(self, x):
        high, low = global_max_min(x)
        return high, low, self.alpha, self.beta

    def extra_repr(self) -> str:
        return f"alpha={self.alpha:g}, beta={self.beta:g}"


class LearnedPool(GlobalPool):
    """SPEM's self-adaptive weight: ``lam * max + (1 - lam) * min``, ``lam = p0^2 / |p|^2``.

    ``p`` starts at [0.5, 0.5] (lam = 0.5); the training loss adds a multiple of
    :meth:`regularizer`, as the official code does.
    """

    def __init__(self):
        super().__init__()
        self.p = nn.Parameter(torch.tensor([0.5, 0.5]))

    @property
    def lam(self) -> torch.Tensor:
        p = self.p
        with torch.no_grad():
            # lam depends on p's direction only, but p0^2 / |p|^2 in float32 breaks once |p|
            # falls below about 1e-20 (the regulariser shrinks p to 0 wherever lam's own gradient
            # vanishes): its backward, (p0^2 / |p|^2) / |p|^2, overflows and 0 * inf gives NaN,
            # then the squares underflow to 0 / 0.  Only there is p first divided by max |p|;
            # everywhere else by exactly 1, which keeps every value and gradient bit for bit.
            squared = p.square()
            fine = torch.isfinite(squared[0] / squared.sum() / squared.sum())
            unit = torch.where(fine, torch.ones_like(squared[0]), p.abs().max())
        squared = (p / unit).square()
        return squared[0] / squared.sum()

    def regularizer(self) -> torch.Tensor:
        return self.p.square().sum()

    def terms(self, x):
        high, low = global_max_min(x)
        lam = self.lam.to(x.dtype)
        return high, low, lam, 1 - lam


class _FloatStatistic(_SingleStatistic):
    """A statistic that exponentiates or squares its input: computed in float32 or wider (bf16
    autocast would lose most of its digits in the exponentials and powers), returned in the
    input's dtype."""

    def forward(self, x):
        return self.statistic(x.to(torch.promote_types(x.dtype, torch.float32))).to(x.dtype)

    def terms(self, x):
        s = self(x)
        return s, s, 0.5, 0.5


class _LogMeanExp(torch.autograd.Function):
    """``(1/r) log mean exp(r x)`` over the last axis of (B, C, L), with its gradient
    ``softmax(r x) = exp(r (x - value)) / L`` written out: one exp instead of the backward of
    every step of the forward (lse 12x avg through autograd, bench_pooling)."""

    @staticmethod
    def forward(ctx, flat, r):
        # Around the channel mean c and the largest s = r (x - c): nothing overflows at large
        # r, and at small r, where logsumexp(r x) - log(L) would cancel to float32 noise divided
        # by r, expm1 and log1p keep their digits.
        centre = flat.mean(2, keepdim=True)
        scaled = r * (flat - centre)
        top = scaled.amax(2, keepdim=True)
        value = centre + (top + torch.log1p(torch.expm1(scaled - top).mean(2, keepdim=True))) / r
        ctx.save_for_backward(flat, value)
        ctx.r = r
        return value

    @staticmethod
    def backward(ctx, grad):
        flat, value = ctx.saved_tensors
        # r (x - value) <= log(L): the exponential cannot overflow.
        return grad * torch.exp(ctx.r * (flat - value)) / flat.shape[2], None


class LSEPool(_FloatStatistic):
    """Log-sum-exp pooling ``(1/r) log mean exp(r x)``: avg as r -> 0, max as r -> infinity,
    computed stably (:class:`_LogMeanExp`)."""

    def __init__(self, r: float):
        super().__init__()
        self.r = r

    def statistic(self, x):
        return _LogMeanExp.apply(x.flatten(2), self.r)[..., None]

    def extra_repr(self) -> str:
        return f"r={self.r:g}"


GEM_EPS = 1e-6  # GeM's clamp (Radenovic et al.)


class GeMPool(_FloatStatistic):
    """Generalised mean ``(mean clamp(x, eps)^p)^(1/p)``, as published: values below eps
    count as eps.  On an SE input (a BatchNorm output, about half of it negative) gem is
    therefore a power mean of the positive part; the negative values carry no gradient."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def statistic(self, x):
        return x.clamp(min=GEM_EPS).pow(self.p).mean((2, 3), keepdim=True).pow(1.0 / self.p)

    def extra_repr(self) -> str:
        return f"p={self.p:g}"


STD_EPS = 1e-5  # inside the square root, as SRM: a constant channel keeps a finite gradient


class MeanStdPool(_FloatStatistic):
    """``mean + lambda * std`` over (H, W), std the population one, ``sqrt(var + 1e-5)``."""

    def __init__(self, lam: float):
        super().__init__()
        self.lam = lam

    def statistic(self, x):
        var, mean = torch.var_mean(x, (2, 3), correction=0, keepdim=True)
        return mean + self.lam * (var + STD_EPS).sqrt()

    def extra_repr(self) -> str:
        return f"lambda={self.lam:g}"


# FcaNet's 'top16' selection (Qin et al. 2021): 16 frequencies (u, v) of a 7x7 DCT grid.
DCT_TOP16_U = (0, 0, 6, 0, 0, 1, 1, 4, 5, 1, 3, 0, 0, 0, 3, 2)
DCT_TOP16_V = (0, 1, 0, 5, 2, 0, 2, 0, 0, 6, 0, 4, 6, 3, 5, 2)
DCT_GRID = 7


def dct_frequency(u: int, size: int) -> int:
    """Frequency ``u`` of the 7-point grid on a ``size``-point map.  FcaNet scales by
    ``size // 7`` (its maps are 7, 14, 28, 56); below 7 that would put every frequency at 0,
    so smaller maps scale in proportion, ``u * size // 7``, which stays below ``size``."""
    return u * (size // DCT_GRID) if size >= DCT_GRID else u * size // DCT_GRID


def dct_basis(u: int, size: int) -> torch.Tensor:
    """Orthonormal DCT-II basis vector ``u`` of length ``size`` (float64)."""
    t = torch.arange(size, dtype=torch.float64)
    scale = math.sqrt((1.0 if u == 0 else 2.0) / size)
    return scale * torch.cos(math.pi * u * (t + 0.5) / size)


@functools.lru_cache(maxsize=64)
def dct_filters(channels: int, height: int, width: int, device: torch.device,
                dtype: torch.dtype) -> torch.Tensor:
    """(C, H, W) filters: channel c gets frequency ``c * 16 // C`` of the top-16 list, i.e.
    16 equal groups of channels when C is a multiple of 16, each group its own 2-D basis."""
    groups = len(DCT_TOP16_U)
    bases = torch.stack([torch.outer(dct_basis(dct_frequency(u, height), height),
                                     dct_basis(dct_frequency(v, width), width))
                         for u, v in zip(DCT_TOP16_U, DCT_TOP16_V)])
    return bases[torch.arange(channels) * groups // channels].to(device, dtype)


class DCTPool(_FloatStatistic):
    """FcaNet's multi-spectral pooling: each channel's 2-D DCT component at its group's
    frequency.  The (0, 0) component is ``sqrt(H W) * avg``."""

    def statistic(self, x):
        weight = dct_filters(*x.shape[1:], x.device, x.dtype)
        # A product and a sum, not einsum: autocast would run einsum in bf16.
        return (x * weight).sum((2, 3), keepdim=True)


class PluginPool(_SingleStatistic):
    """A user's pool module (``--pool MODULE:FACTORY``) as a single statistic."""

    def __init__(self, module: nn.Module, source: str):
        super().__init__()
        self.module, self.source = module, source

    def statistic(self, x):
        out = self.module(x)
        if not isinstance(out, torch.Tensor) or out.shape != (*x.shape[:2], 1, 1):
            raise SpeError(f"pool {self.source} must map (B, C, H, W) to (B, C, 1, 1); for "
                           f"{tuple(x.shape)} it gave {getattr(out, 'shape', type(out).__name__)}")
        return out


POOLS = {"avg": AvgPool, "max": MaxPool, "min": MinPool, "mix": MixPool,
         "learned": LearnedPool, "avgmax": AvgMaxPool, "lse": LSEPool, "gem": GeMPool,
         "meanstd": MeanStdPool, "dct": DCTPool}
POOL_NAMES = names.registered("pool", names.POOL_NAMES, POOLS)


def config_pool(config) -> str:
    """The pool a run config builds, as make_pool takes it: the label, or the recorded
    factory of a user's pool (what a registered name stood for when the run was configured)."""
    return config.pool_import or pool_label(config.pool, config.pool_param)


def resolve_pool(name: str, param=None) -> dict:
    """The config fields of a pool given as a label ('lse:4', 'dct', 'pkg.mod:make', an entry
    point name) or as a name and its parameter: ``pool``, ``pool_param`` (None when it has
    none), ``pool_import`` and ``pool_version`` (a user's pool: its factory and version)."""
    if not isinstance(name, str):
        raise SpeError(f"pool must be a name, got {name!r}; accepted: {POOL_ACCEPTED}")
    head, colon, value = name.partition(":")
    if head in POOLS and head not in PARAMETERS and colon:
        raise SpeError(f"pool {head!r} takes no parameter, got {name!r}; parameters go with "
                       f"{', '.join(f'{p}:VALUE' for p in PARAMETERS)}")
    if head in PARAMETERS and colon:
        if param is not None:
            raise SpeError(f"pool {name!r} already names its parameter; drop the extra {param!r}")
        name, param = head, value
    if name in PARAMETERS:
        what, positive = PARAMETERS[name]
        if param is None or param == "":
            raise SpeError(f"pool {name!r} needs its {what}: write {name}:VALUE, e.g. {name}:{2 if positive else 1}")
        param = finite(f"{what} of pool {name!r}", param)
        if positive and param <= 0:
            raise SpeError(f"{what} of pool {name!r} must be positive, got {parameter_text(param)}")
        return {"pool": name, "pool_param": param + 0.0, "pool_import": None, "pool_version": None}
    if param is not None:
        raise SpeError(f"pool {name!r} takes no parameter; parameters go with {', '.join(PARAMETERS)}")
    if name in POOLS:
        return {"pool": name, "pool_param": None, "pool_import": None, "pool_version": None}
    path = pool_plugins.path_of(name, POOL_ACCEPTED)
    pool_plugins.check(path)
    return {"pool": name, "pool_param": None, "pool_import": path,
            "pool_version": pool_plugins.version(path)}


def make_pool(name: str, alpha=None, beta=None, channels: int | None = None) -> GlobalPool:
    """Build the pool called ``name`` (a label: 'avg', 'lse:4', 'pkg.mod:make'); ``mix``
    needs finite ``alpha`` and ``beta``; a user's pool needs the ``channels`` of its host."""
    user = isinstance(name, str) and name.partition(":")[0] not in POOLS
    if (alpha is not None or beta is not None) and (user or name != "mix"):
        raise SpeError(f"alpha/beta apply only to pool 'mix', not to pool {name!r}")
    if user:  # checked and versioned by resolve_pool when the run was configured
        path = pool_plugins.path_of(name, POOL_ACCEPTED)
        if channels is None:
            raise SpeError(f"pool {name!r} is built per host: give its number of channels")
        return PluginPool(pool_plugins.build(path, channels), name)
    fields = resolve_pool(name)
    if fields["pool"] == "mix":
        if alpha is None or beta is None:
            raise SpeError("pool 'mix' needs both alpha and beta (finite numbers, e.g. 0.5)")
        return MixPool(finite("alpha", alpha), finite("beta", beta))
    param = fields["pool_param"]
    return POOLS[fields["pool"]]() if param is None else POOLS[fields["pool"]](param)
