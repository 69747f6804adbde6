"""The networks a run trains, each with a channel-attention host around the run's pool:
the CIFAR ResNets (``resnet``), airbench's network (``airbench``), timm models with spe's host
in every attention slot (``timm_adapter``), and K runs' networks as one (``fused``).
"""
from __future__ import annotations

import functools

from torch import nn

from .. import names
from ..attention import make_attention
from ..errors import choose, positive_int
from ..names import is_timm
from .airbench import AirbenchNet
from .resnet import ARCHITECTURES, CifarResNet
from .timm_adapter import check_timm_model, make_timm_model

MODEL_NAMES = names.registered("model", names.MODEL_NAMES, (*ARCHITECTURES, "airbench"))


def check_model_name(name: str) -> str:
    """``name`` if it is one of MODEL_NAMES or a timm model with an attention slot (``timm:NAME``)."""
    return check_timm_model(name) if is_timm(name) else choose("model", name, MODEL_NAMES)


def make_model(name: str, num_classes: int = 10, in_channels: int = 3, attention: str = "none",
               pool: str = "avg", alpha=None, beta=None) -> nn.Module:
    """Build CIFAR ResNet ``name``, the airbench network, or timm model ``timm:NAME``, with
    host ``attention`` around pool ``pool`` in every block (after every conv group of airbench)."""
    check_model_name(name)
    num_classes = positive_int("num_classes", num_classes)
    in_channels = positive_int("in_channels", in_channels)
    host = functools.partial(make_attention, attention, pool=pool, alpha=alpha, beta=beta)
    host(16)  # check attention, pool, alpha and beta before building anything
    if is_timm(name):
        return make_timm_model(name, num_classes, in_channels, host)
    if name == "airbench":
        return AirbenchNet(num_classes, in_channels, host)
    block, blocks_per_stage = ARCHITECTURES[name]
    return CifarResNet(block, blocks_per_stage, num_classes, in_channels, host)
