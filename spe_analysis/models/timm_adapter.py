"""timm models with spe's attention host in every attention slot: ``--model timm:NAME``.

timm builds attention from a factory called with the channel count.  Which keyword takes
the factory depends on the family; the first that a model accepts, and calls, is used:

- ``block_args={"attn_layer": ...}``: timm's ResNet family (resnet*, resnext*, wide_resnet*,
  seresnet*, ecaresnet*, resnetrs*, skresnet*, res2net*, senet154...).  The module sits
  after the block's last BatchNorm, before the residual add, where SPEM's official code
  puts it.
- ``attn_layer=...``: the BYOB and NF families (gernet*, repvgg*, botnet*, halonet*,
  lambda_resnet*, nf_resnet*...).
- ``se_layer=...``: the EfficientNet family (efficientnet*, mnasnet*...), in place of the
  squeeze-excite of each inverted-residual block.

Models with none of these (ViT, ConvNeXt, DenseNet, RegNet, ResNeSt...) are refused.  Models
are built with ``pretrained=False``: no weights are downloaded.
"""
from __future__ import annotations

import functools
from typing import Callable

from torch import nn

from ..errors import SpeError
from ..names import TIMM

TIMM_INSTALL = 'pip install -e ".[timm]"'
SLOTS = ({"block_args": "attn_layer"}, "attn_layer", "se_layer")  # tried in this order


def _timm():
    try:
        import timm
    except ImportError:
        raise SpeError(f"--model timm:NAME needs timm, which is not installed: {TIMM_INSTALL}") from None
    return timm


def _slot_kwargs(slot, factory: Callable[..., nn.Module]) -> dict:
    if isinstance(slot, dict):
        (outer, inner), = slot.items()
        return {outer: {inner: factory}}
    return {slot: factory}


@functools.lru_cache(maxsize=None)
def attention_slot(name: str):
    """The keyword through which timm model ``name`` (without the prefix) takes an attention
    factory; SpeError when there is no such model or it has no attention slot."""
    timm = _timm()
    if not timm.is_model(name):
        raise SpeError(f"unknown timm model {name!r} (see timm.list_models())")
    import torch

    for slot in SLOTS:
        calls = []

        def probe(channels, **_):
            calls.append(channels)
            return nn.Identity()
        try:
            with torch.device("meta"):  # no memory, no initialisation: only the structure
                timm.create_model(name, pretrained=False, **_slot_kwargs(slot, probe))
        except Exception:  # timm refuses the keyword: TypeError, or an assert in some families
            continue
        if calls:
            return slot
    raise SpeError(f"timm model {name!r} has no attention slot (attn_layer or se_layer); "
                   "use e.g. timm:resnet18, timm:resnext50_32x4d or timm:efficientnet_b0")


def check_timm_model(model: str) -> str:
    """``model`` (``timm:NAME``) if timm can build it with an attention factory."""
    attention_slot(model.removeprefix(TIMM))
    return model


def make_timm_model(model: str, num_classes: int, in_channels: int,
                    host: Callable[[int], nn.Module]) -> nn.Module:
    """timm model ``timm:NAME`` with ``host(channels)`` in every attention slot."""
    name = model.removeprefix(TIMM)
    slot = attention_slot(name)

    def factory(channels, **_):  # timm also passes rd_ratio, device, dtype: the host has its own
        return host(channels)
    return _timm().create_model(name, pretrained=False, num_classes=num_classes, in_chans=in_channels,
                                **_slot_kwargs(slot, factory))
