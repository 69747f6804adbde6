"""How pools are named, without torch (the statistics, sweep planning and --help read these
names).

A pool with a parameter is written ``NAME:VALUE`` (``lse:4``) on the command line, in
``--also``, in ``make_pool`` and as the cell of a sweep; a run's config keeps the two apart
(``pool``, ``pool_param``).
"""
from __future__ import annotations

from .errors import SpeError, finite
from .names import EXTRA_POOLS, POOL_NAMES, POOL_PARAMETERS, pool_form, registered

# Pools with one parameter, written NAME:VALUE: (what it is, whether it must be positive).
PARAMETERS = {"lse": ("temperature r", True), "gem": ("exponent p", True),
              "meanstd": ("std weight lambda", False)}
registered("pool parameter", POOL_PARAMETERS, PARAMETERS)
POOL_ACCEPTED = (", ".join(map(pool_form, POOL_NAMES)) + f", {EXTRA_POOLS[-1]} "
                 "or a name registered under the spe.pools entry points")
POOL_FORMS = ("avg, max, min, mix (alpha·max + beta·min, with alpha and beta), learned (SPEM's "
              "self-adaptive weight), avgmax (0.5·avg + 0.5·max), lse:R (log-sum-exp at temperature "
              "R > 0: avg as R -> 0, max as R -> infinity), gem:P (generalised mean (mean "
              "clamp(x, 1e-6)^P)^(1/P): negative values count as 1e-6, so on the SE input, a "
              "BatchNorm output, it averages the positive part), meanstd:L (mean + L·std), dct "
              "(FcaNet's top-16 multi-spectral DCT), MODULE:FACTORY (your own: FACTORY(channels) "
              "returns a module (B,C,H,W) -> (B,C,1,1)) or a name registered under the spe.pools "
              "entry points")


def parameter_text(value: float) -> str:
    """The shortest text that reads back as exactly ``value``: '4', '0.25', '1e-05'."""
    short = f"{value:g}"
    return short if float(short) == value else repr(value)


def pool_label(pool: str, param: float | None = None) -> str:
    """How a pool is named everywhere it is shown and given: 'lse:4', 'dct', 'mix'."""
    return pool if param is None else f"{pool}:{parameter_text(float(param))}"


def split_label(label: str) -> tuple[str, float | None]:
    """(name, parameter) of a label such as 'lse:4'; (label, None) for any other."""
    name, _, value = label.partition(":")
    if name in PARAMETERS and value:
        try:
            return name, float(value)
        except ValueError:
            pass
    return label, None


def builtin_pool(name, param=None) -> tuple[str, float | None] | None:
    """(name, parameter) of a built-in pool given as a label ('lse:4', 'dct') or as a name
    and its parameter; None for any other name (a user's pool); SpeError when malformed."""
    if not isinstance(name, str):
        raise SpeError(f"pool must be a name, got {name!r}; accepted: {POOL_ACCEPTED}")
    head, colon, value = name.partition(":")
    if head in POOL_NAMES and head not in PARAMETERS and colon:
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
        return name, param + 0.0
    if param is not None:
        raise SpeError(f"pool {name!r} takes no parameter; parameters go with {', '.join(PARAMETERS)}")
    return (name, None) if name in POOL_NAMES else None
