"""Bearpaw-style CIFAR ResNets with a channel-attention host in every block.

ResNet-20/56/110 use basic blocks (depth 6n + 2), ResNet-164 bottlenecks (depth 9n + 2,
n = 18).  A 3x3 stem with 16 channels, three stages of 16 / 32 / 64 planes, and the
attention module after each block's last BN and before the residual add, where the
official SPEM code puts it.  Global average pooling is adaptive, so 8x8 and 28x28 inputs
work as well as 32x32; with ``attention="none"`` the parameter count is the reference one.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .. import names


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int, attention):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.attention = attention(planes)
        self.downsample = _downsample(inplanes, planes, stride)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.attention(self.bn2(self.conv2(out)))
        return self.relu(out + self.downsample(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int, attention):
        super().__init__()
        width = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, width, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.attention = attention(width)
        self.downsample = _downsample(inplanes, width, stride)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.attention(self.bn3(self.conv3(out)))
        return self.relu(out + self.downsample(x))


def _downsample(inplanes: int, outplanes: int, stride: int) -> nn.Module:
    if stride == 1 and inplanes == outplanes:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(inplanes, outplanes, 1, stride, bias=False),
                         nn.BatchNorm2d(outplanes))


class CifarResNet(nn.Module):
    def __init__(self, block, blocks_per_stage: int, num_classes: int, in_channels: int,
                 attention):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        stages, inplanes = [], 16
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            blocks = []
            for i in range(blocks_per_stage):
                blocks.append(block(inplanes, planes, stride if i == 0 else 1, attention))
                inplanes = planes * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(inplanes, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):  # He init as bearpaw: std sqrt(2 / (k*k*out))
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# name -> (block, blocks per stage): depth 6n + 2 for basic blocks, 9n + 2 for bottlenecks.
ARCHITECTURES = {"resnet20": (BasicBlock, 3), "resnet56": (BasicBlock, 9),
                 "resnet110": (BasicBlock, 18), "resnet164": (Bottleneck, 18)}
names.registered("ResNet", names.RESNET_NAMES, ARCHITECTURES)
