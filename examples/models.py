"""Two classic conv nets in plain ``torch.nn`` (no torchvision), for ``harness layers --from``.

- :func:`resnet18`: ResNet-18 (He et al. 2016) exactly as torchvision lays it out:
  7x7/2 stem, 3x3/2 max pool, four stages of two BasicBlocks (64, 128, 256, 512
  channels; the first block of stages 2-4 strides by 2 and has a 1x1/2 downsample):
  20 convolutions.
- :func:`googlenet`: GoogLeNet v1 (Szegedy et al. 2015, Table 1): 7x7/2 stem,
  1x1 + 3x3 conv2, nine Inception modules with the paper's 1x1, 3x3 reduce, 3x3,
  5x5 reduce, 5x5 (a true 5x5, as in the paper) and pool proj widths; 57 convolutions
  (no auxiliary classifiers, no LRN).

Capture their layers with::

    python -c "from harness.capture import *; write_layer_file(capture_layers(model_from_ref(
        'examples/models.py:googlenet')), 'googlenet.toml', source='examples/models.py:googlenet')"
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn


def _conv(cin: int, cout: int, k: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False)


class BasicBlock(nn.Module):
    """ResNet basic block: 3x3 (strided) -> 3x3, plus the identity or a 1x1 strided downsample."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1, self.bn1 = _conv(cin, cout, 3, stride), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = _conv(cout, cout, 3), nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(_conv(cin, cout, 1, stride), nn.BatchNorm2d(cout))

    def forward(self, x):
        """relu(bn(conv2(relu(bn(conv1(x))))) + shortcut(x))."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


def resnet18(num_classes: int = 1000) -> nn.Module:
    """ResNet-18 with torchvision's module names (conv1, layer1..layer4, fc) and random weights."""
    parts = [("conv1", nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)), ("bn1", nn.BatchNorm2d(64)),
             ("relu", nn.ReLU(inplace=True)), ("maxpool", nn.MaxPool2d(3, stride=2, padding=1))]
    cin = 64
    for i, width in enumerate((64, 128, 256, 512), start=1):
        stride = 1 if i == 1 else 2
        parts.append((f"layer{i}", nn.Sequential(BasicBlock(cin, width, stride), BasicBlock(width, width))))
        cin = width
    parts += [("avgpool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(512, num_classes))]
    return nn.Sequential(OrderedDict(parts))


class Inception(nn.Module):
    """Inception module (v1): four parallel branches concatenated along channels."""

    def __init__(self, cin: int, n1x1: int, n3x3red: int, n3x3: int, n5x5red: int, n5x5: int, pool_proj: int):
        super().__init__()

        def branch(*layers):
            return nn.Sequential(*(m for conv in layers for m in (conv, nn.ReLU(inplace=True))))

        self.branch1 = branch(_conv(cin, n1x1, 1))
        self.branch2 = branch(_conv(cin, n3x3red, 1), _conv(n3x3red, n3x3, 3))
        self.branch3 = branch(_conv(cin, n5x5red, 1), _conv(n5x5red, n5x5, 5))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), branch(_conv(cin, pool_proj, 1)))

    def forward(self, x):
        """Concatenate the 1x1, 3x3, 5x5 and pool-projection branches."""
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)


#: GoogLeNet v1 Inception widths from Table 1: in, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
INCEPTION_V1 = {
    "3a": (192, 64, 96, 128, 16, 32, 32), "3b": (256, 128, 128, 192, 32, 96, 64),
    "4a": (480, 192, 96, 208, 16, 48, 64), "4b": (512, 160, 112, 224, 24, 64, 64),
    "4c": (512, 128, 128, 256, 24, 64, 64), "4d": (512, 112, 144, 288, 32, 64, 64),
    "4e": (528, 256, 160, 320, 32, 128, 128), "5a": (832, 256, 160, 320, 32, 128, 128),
    "5b": (832, 384, 192, 384, 48, 128, 128),
}


def googlenet(num_classes: int = 1000) -> nn.Module:
    """GoogLeNet v1 at 224x224 (Table 1 of the paper), random weights; pools use ceil mode like Caffe."""
    parts = [("conv1", nn.Sequential(_conv(3, 64, 7, stride=2), nn.ReLU(inplace=True))),
             ("pool1", nn.MaxPool2d(3, stride=2, ceil_mode=True)),
             ("conv2_reduce", nn.Sequential(_conv(64, 64, 1), nn.ReLU(inplace=True))),
             ("conv2", nn.Sequential(_conv(64, 192, 3), nn.ReLU(inplace=True))),
             ("pool2", nn.MaxPool2d(3, stride=2, ceil_mode=True))]
    for name, widths in INCEPTION_V1.items():
        parts.append((f"inception{name}", Inception(*widths)))
        if name in ("3b", "4e"):
            parts.append((f"pool{int(name[0]) + 1}", nn.MaxPool2d(3, stride=2, ceil_mode=True)))
    parts += [("avgpool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("dropout", nn.Dropout(0.4)),
              ("fc", nn.Linear(1024, num_classes))]
    return nn.Sequential(OrderedDict(parts))
