"""Users' own pools: ``--pool MODULE:FACTORY`` and names under the ``spe.pools`` entry points.

A factory is called with the number of channels of the host it serves and returns an
``nn.Module`` mapping (B, C, H, W) to (B, C, 1, 1).  A run records where the factory came
from (``pool_import``, ``MODULE:FACTORY``) and the version of the code that defines it
(``pool_version``, where there is one), and both are part of the run's identity: the same
name backed by other code is another run.  A package registers a name in its metadata::

    [project.entry-points."spe.pools"]
    mypool = "mypackage.pools:make_pool"
"""
from __future__ import annotations

import importlib
import importlib.metadata
import re
import torch
from torch import nn

from ..errors import SpeError
from .pools import _SingleStatistic

GROUP = "spe.pools"
_PATH = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*")
CHECK_CHANNELS, CHECK_SHAPE = 16, (2, 16, 8, 8)  # the trial input every factory must pool


def registered() -> dict[str, str]:
    """Name -> MODULE:FACTORY of every pool installed packages register."""
    return {ep.name: ep.value for ep in importlib.metadata.entry_points(group=GROUP)}


def version(path: str) -> str | None:
    """The version of the code behind factory ``path``: the version of the distribution that
    installs its top-level package, else a ``__version__`` of its module or of that package;
    None when there is none (a module on sys.path, say)."""
    module_name = path.partition(":")[0]
    top = module_name.partition(".")[0]
    for dist in importlib.metadata.packages_distributions().get(top, ()):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    for name in (module_name, top):
        found = getattr(importlib.import_module(name), "__version__", None)
        if found is not None:
            return str(found)
    return None


def load(path: str):
    """The factory at ``MODULE:FACTORY``; SpeError in one line when it cannot be imported."""
    module_name, _, attribute = path.partition(":")
    try:
        target = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except Exception as exc:  # any import-time error of the user's module is bad input here
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SpeError(f"cannot import pool factory {path!r}: {message}") from None
    if not callable(target):
        raise SpeError(f"pool factory {path!r} is not callable")
    return target


def build(path: str, channels: int) -> nn.Module:
    """``FACTORY(channels)``, checked to be a module."""
    try:
        module = load(path)(channels)
    except SpeError:
        raise
    except Exception as exc:
        raise SpeError(f"pool factory {path!r} failed for {channels} channels: {exc}") from None
    if not isinstance(module, nn.Module):
        raise SpeError(f"pool factory {path!r} must return an nn.Module, got {type(module).__name__}")
    return module


def check(path: str) -> None:
    """Refuse a factory whose module does not pool a trial input to (B, C, 1, 1)."""
    module = build(path, CHECK_CHANNELS)
    try:
        with torch.no_grad():
            out = module(torch.randn(CHECK_SHAPE))
    except Exception as exc:
        raise SpeError(f"pool {path!r} failed on a {CHECK_SHAPE} input: {exc}") from None
    expected = (*CHECK_SHAPE[:2], 1, 1)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != expected:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise SpeError(f"pool {path!r} must map (B, C, H, W) to (B, C, 1, 1): {CHECK_SHAPE} gave {got}")


def path_of(name: str, accepted: str) -> str:
    """The MODULE:FACTORY a pool name stands for: itself, or what a package registered."""
    if _PATH.fullmatch(name):
        return name
    entries = registered()
    if name not in entries:
        raise SpeError(f"unknown pool {name!r}; accepted: {accepted}"
                       + (f"; registered: {', '.join(sorted(entries))}" if entries else ""))
    path = entries[name].replace(" ", "")
    if not _PATH.fullmatch(path):
        raise SpeError(f"pool {name!r} is registered as {entries[name]!r}, not MODULE:FACTORY")
    return path


class PluginPool(_SingleStatistic):
    """A user's pool module (``--pool MODULE:FACTORY``) as a single statistic.  A module that
    defines ``regularizer()``, ``epoch_record()`` or ``trained_weight()`` takes part in training
    through them as the built-in pools do (:class:`~spe_analysis.pooling.GlobalPool`)."""

    def __init__(self, module: nn.Module, source: str):
        super().__init__()
        self.module, self.source = module, source

    def statistic(self, x):
        out = self.module(x)
        if not isinstance(out, torch.Tensor) or out.shape != (*x.shape[:2], 1, 1):
            raise SpeError(f"pool {self.source} must map (B, C, H, W) to (B, C, 1, 1); for "
                           f"{tuple(x.shape)} it gave {getattr(out, 'shape', type(out).__name__)}")
        return out

    def _own(self, name: str, default):
        method = getattr(self.module, name, None)
        return method() if callable(method) else default

    def regularizer(self):
        return self._own("regularizer", None)

    def epoch_record(self):
        return self._own("epoch_record", {})

    def trained_weight(self):
        return self._own("trained_weight", None)

