"""Presets: named lists of labelled layers plus default axes, the input of every sweep.

A :class:`Layer` is one convolution of a real network (or a synthetic one); a
:class:`Preset` adds default axis values (batch N, dtype, threads...) which
``--axis NAME=v1,v2`` can override. The layer tables of real networks live in
:mod:`harness.networks`; the :class:`~harness.layers.Layer` type in :mod:`harness.layers`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from . import networks
from .errors import did_you_mean
from .layers import Layer
from .threads import default_threads


@dataclass(frozen=True)
class Preset:
    """A named sweep: layers plus default axis values (each axis a tuple of values)."""

    name: str
    description: str
    layers: Sequence[Layer]  # a tuple; a layer file's plain CSV: its columns (harness.layercsv.LayerColumns)
    axes: dict = field(default_factory=dict)

    @property
    def has_reduction(self) -> bool:
        """True when the preset holds direct/reduced pairs for the reduction study."""
        return any(layer.role == "direct" for layer in self.layers)


def _smoke_layers() -> list[Layer]:
    """Four reduction branches (a 1x1 reduce in front of a 1x1, a 3x3, a strided 3x3 and a 5x5, each with its direct
    twin; each pair costs fewer FLOPs than its direct layer), so that the fused chain backend has the four points a
    floor and a backend move of its own need (:data:`harness.backendmove.MIN_POINTS`): with one, ``compare`` caught
    its injected 1.3x in 1 of 3 comparisons of a run with a slowed copy of itself, in 6 of 6 with four (Zen 2 VM)."""
    return [
        Layer("1x1 reduce", C=12, H=4, W=4, F=3, k=1, branch="1x1", role="reduce"),
        Layer("1x1", C=3, H=4, W=4, F=5, k=1, branch="1x1", role="conv"),
        Layer("1x1 direct", C=12, H=4, W=4, F=5, k=1, branch="1x1", role="direct"),
        Layer("3x3 reduce", C=6, H=6, W=5, F=3, k=1, N=2, branch="3x3", role="reduce"),
        Layer("3x3", C=3, H=6, W=5, F=4, k=3, padding="same", N=2, branch="3x3", role="conv"),
        Layer("3x3 direct", C=6, H=6, W=5, F=4, k=3, padding="same", N=2, branch="3x3", role="direct"),
        Layer("3x3/2 reduce", C=12, H=7, W=7, F=3, k=1, branch="3x3/2", role="reduce"),
        Layer("3x3/2", C=3, H=7, W=7, F=2, k=3, stride=2, padding=1, branch="3x3/2", role="conv"),
        Layer("3x3/2 direct", C=12, H=7, W=7, F=2, k=3, stride=2, padding=1, branch="3x3/2", role="direct"),
        Layer("5x5 reduce", C=6, H=5, W=5, F=2, k=1, branch="5x5", role="reduce"),
        Layer("5x5", C=2, H=5, W=5, F=4, k=5, padding="same", branch="5x5", role="conv"),
        Layer("5x5 direct", C=6, H=5, W=5, F=4, k=5, padding="same", branch="5x5", role="direct"),
    ]


def _threads_axis() -> tuple[int, ...]:
    return tuple(range(1, default_threads() + 1))


def build_presets() -> dict[str, Preset]:
    """Every built-in preset by name (built afresh on each call)."""
    def preset(name, description, layers, **axes):
        return Preset(name, description, tuple(layers), {k: tuple(v) for k, v in axes.items()})

    inception3a = networks.inception_module("3a")
    threads_layers = [layer for layer in inception3a if layer.label in ("3a 1x1", "3a 3x3", "3a 5x5 direct")]
    return {
        p.name: p
        for p in (
            preset("smoke",
                   "tiny 1x1/3x3/5x5/strided layers, each with and without a 1x1 reduce; seconds, every backend",
                   _smoke_layers()),
            preset("inception3a", "GoogLeNet Inception 3a (28x28, C=192) with/without 1x1 reductions; N=1,8",
                   inception3a, N=(1, 8)),
            preset("inception", "every GoogLeNet Inception module 3a..5b with/without reductions; N=1",
                   networks.inception_all(), N=(1,)),
            preset("resnet50", "ResNet-50 stem and bottleneck layers (1x1 reduce, 3x3, 1x1 expand, downsample)",
                   networks.resnet50(), N=(1,)),
            preset("mobilenet", "MobileNet v1 pointwise (1x1) layers, 112x112 down to 7x7",
                   networks.mobilenet_pointwise(), N=(1,)),
            preset("scaling", "1x1/3x3/5x5 over a geometric range of C (28x28) and of H (C=64)",
                   networks.scaling_layers(), N=(1,)),
            preset("threads", "Inception 3a 1x1, 3x3 and 5x5-direct over threads = 1..cores",
                   threads_layers, N=(1,), threads=_threads_axis()),
            preset("gpu", "Inception 3a..5b and ResNet-50 layers at N=32, sized for a big GPU",
                   networks.inception_all() + networks.resnet50()[1:], N=(32,)),
        )
    }


def get_preset(name: str) -> Preset:
    """The preset called ``name``; an unknown name raises ValueError listing the known ones."""
    presets = build_presets()
    if name not in presets:
        raise ValueError(f"unknown preset {name!r}{did_you_mean(name, presets)}; choose from: {', '.join(presets)}")
    return presets[name]
