"""Layer tables of real networks: GoogLeNet Inception modules, ResNet-50 bottlenecks, MobileNet v1.

Each function returns :class:`harness.layers.Layer` objects labelled the way the
papers name them. Inception modules also carry the "no reduction" layers (the
3x3/5x5 convolution applied straight to the module input) linked to their
reduce/conv pair by ``branch`` so the reduction study can compare them.

Most presets measure a part of a network; :data:`PRESET_PARTS` says which part
and :func:`network_macs` gives the whole network's multiply-adds (from the full
layer tables :func:`googlenet` and :func:`resnet50_network`), so a total can say
what fraction of the network it covers.
"""
from __future__ import annotations

from dataclasses import dataclass

from kernels.spec import resolve_padding

from .layers import Layer

# GoogLeNet, "Going Deeper with Convolutions", Table 1:
# module: (H=W, C_in, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj)
INCEPTION_TABLE = {
    "3a": (28, 192, 64, 96, 128, 16, 32, 32),
    "3b": (28, 256, 128, 128, 192, 32, 96, 64),
    "4a": (14, 480, 192, 96, 208, 16, 48, 64),
    "4b": (14, 512, 160, 112, 224, 24, 64, 64),
    "4c": (14, 512, 128, 128, 256, 24, 64, 64),
    "4d": (14, 512, 112, 144, 288, 32, 64, 64),
    "4e": (14, 528, 256, 160, 320, 32, 128, 128),
    "5a": (7, 832, 256, 160, 320, 32, 128, 128),
    "5b": (7, 832, 384, 192, 384, 48, 128, 128),
}


def inception_module(name: str) -> list[Layer]:
    """The convolutions of one Inception module plus its two unreduced (direct) variants."""
    hw, c, n1, r3, n3, r5, n5, pp = INCEPTION_TABLE[name]

    def conv(label, cin, cout, k, **kw):
        return Layer(f"{name} {label}", C=cin, H=hw, W=hw, F=cout, k=k, padding="same", **kw)

    b3, b5 = f"{name} 3x3", f"{name} 5x5"
    return [
        conv("1x1", c, n1, 1),
        conv("3x3 reduce", c, r3, 1, branch=b3, role="reduce"),
        conv("3x3", r3, n3, 3, branch=b3, role="conv"),
        conv("5x5 reduce", c, r5, 1, branch=b5, role="reduce"),
        conv("5x5", r5, n5, 5, branch=b5, role="conv"),
        conv("pool proj", c, pp, 1),
        conv("3x3 direct", c, n3, 3, branch=b3, role="direct"),
        conv("5x5 direct", c, n5, 5, branch=b5, role="direct"),
    ]


def inception_all() -> list[Layer]:
    """Every Inception module 3a..5b."""
    return [layer for name in INCEPTION_TABLE for layer in inception_module(name)]


# ResNet-50 v1.5 (torchvision): the stride-2 sits on the 3x3 of each stage's first block.
# stage: (H=W at the block input, C_in of the first block, width, stride)
RESNET50_STAGES = {
    "conv2": (56, 64, 64, 1),
    "conv3": (56, 256, 128, 2),
    "conv4": (28, 512, 256, 2),
    "conv5": (14, 1024, 512, 2),
}


def resnet50() -> list[Layer]:
    """The stem and the bottleneck convolutions of each ResNet-50 stage (first block)."""
    layers = [Layer("stem 7x7/2", C=3, H=224, W=224, F=64, k=7, stride=2, padding=3)]
    for stage, (hw, cin, width, stride) in RESNET50_STAGES.items():
        out_hw = hw // stride
        layers += [
            Layer(f"{stage} 1x1 reduce", C=cin, H=hw, W=hw, F=width, k=1),
            Layer(f"{stage} 3x3" + (f"/{stride}" if stride > 1 else ""), C=width, H=hw, W=hw, F=width,
                  k=3, stride=stride, padding=1),
            Layer(f"{stage} 1x1 expand", C=width, H=out_hw, W=out_hw, F=4 * width, k=1),
            Layer(f"{stage} downsample" + (f"/{stride}" if stride > 1 else ""), C=cin, H=hw, W=hw,
                  F=4 * width, k=1, stride=stride),
        ]
    return layers


#: ResNet-50's bottleneck blocks per stage (the first one in :func:`resnet50`, the others repeat its shape
#: at the stage's output size with C = 4 * width and no downsample).
RESNET50_BLOCKS = {"conv2": 3, "conv3": 4, "conv4": 6, "conv5": 3}


def resnet50_network() -> list[Layer]:
    """Every convolution of ResNet-50: :func:`resnet50` plus each stage's repeated blocks (``count``)."""
    layers = resnet50()
    for stage, (hw, _, width, stride) in RESNET50_STAGES.items():
        out_hw, repeats = hw // stride, RESNET50_BLOCKS[stage] - 1
        layers += [Layer(f"{stage} block 1x1 reduce", C=4 * width, H=out_hw, W=out_hw, F=width, k=1, count=repeats),
                   Layer(f"{stage} block 3x3", C=width, H=out_hw, W=out_hw, F=width, k=3, padding=1, count=repeats),
                   Layer(f"{stage} block 1x1 expand", C=width, H=out_hw, W=out_hw, F=4 * width, k=1,
                         count=repeats)]
    return layers


def googlenet() -> list[Layer]:
    """Every convolution of GoogLeNet: the stem (7x7/2, 1x1, 3x3) and the nine Inception modules (no direct
    layers: those are the reduction study's, not the network's)."""
    stem = [Layer("conv1 7x7/2", C=3, H=224, W=224, F=64, k=7, stride=2, padding=3),
            Layer("conv2 1x1", C=64, H=56, W=56, F=64, k=1),
            Layer("conv2 3x3", C=64, H=56, W=56, F=192, k=3, padding=1)]
    return stem + [layer for layer in inception_all() if layer.role != "direct"]


def network_macs(layers) -> float:
    """Multiply-adds per image of ``layers`` (count-weighted): F * C * k * k * Ho * Wo each."""
    total = 0
    for layer in layers:
        pad = resolve_padding(layer.padding, layer.k)
        ho = (layer.H + 2 * pad - layer.k) // layer.stride + 1
        wo = (layer.W + 2 * pad - layer.k) // layer.stride + 1
        total += layer.count * layer.F * layer.C * layer.k * layer.k * ho * wo
    return float(total)


@dataclass(frozen=True)
class NetworkPart:
    """What part of which network a preset measures: its totals say so in their label.

    ``network_macs`` is the whole network's multiply-adds per image (None: the layers are no network's).
    """

    network: str | None
    part: str
    network_macs: float | None = None


def _parts() -> dict[str, NetworkPart]:
    googlenet_macs, resnet_macs = network_macs(googlenet()), network_macs(resnet50_network())
    synthetic = NetworkPart(None, "synthetic layers, not a network")
    return {
        "smoke": synthetic, "scaling": synthetic,
        "inception3a": NetworkPart("GoogLeNet", "Inception 3a only", googlenet_macs),
        "inception": NetworkPart("GoogLeNet", "the nine Inception modules, no stem", googlenet_macs),
        "threads": NetworkPart("GoogLeNet", "the 1x1 and 3x3 of Inception 3a", googlenet_macs),
        "resnet50": NetworkPart("ResNet-50", "the stem and the first bottleneck block of each stage", resnet_macs),
        # Howard et al. 2017, Table 2: 569 M multiply-adds, 95% of them in the 1x1 layers
        "mobilenet": NetworkPart("MobileNet v1", "the pointwise (1x1) layers only", 569e6),
        "gpu": NetworkPart(None, "Inception 3a..5b and ResNet-50's first blocks: two networks' layers, not one"),
    }


def preset_part(preset: str | None) -> NetworkPart | None:
    """The part of a network preset ``preset`` measures; None for a layer file or an unknown name (taken to
    be a whole network, as ``harness layers --from`` writes one)."""
    return _parts().get(preset) if preset else None


# MobileNet v1 (width 1.0, 224x224): the distinct pointwise (1x1) layers as (H=W, C_in, C_out).
MOBILENET_POINTWISE = [
    (112, 32, 64), (56, 64, 128), (56, 128, 128), (28, 128, 256), (28, 256, 256),
    (14, 256, 512), (14, 512, 512), (7, 512, 1024), (7, 1024, 1024),
]


def mobilenet_pointwise() -> list[Layer]:
    """MobileNet v1's pointwise convolutions; the 512->512 one repeats five times in the net (``count=5``)."""
    return [Layer(f"pw {hw}x{hw} {c}->{f}", C=c, H=hw, W=hw, F=f, k=1, count=5 if (hw, c, f) == (14, 512, 512) else 1)
            for hw, c, f in MOBILENET_POINTWISE]


def scaling_layers() -> list[Layer]:
    """1x1, 3x3 and 5x5 over a geometric range of channels (at 28x28) and of image size (at C=64)."""
    layers = []
    for k in (1, 3, 5):
        layers += [Layer(f"k{k} C={c}", C=c, H=28, W=28, F=c, k=k, padding="same") for c in (16, 32, 64, 128, 256)]
        layers += [Layer(f"k{k} H={h}", C=64, H=h, W=h, F=64, k=k, padding="same") for h in (7, 14, 56)]
    return layers
