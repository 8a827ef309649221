"""Cases: the points of a sweep, built as layers x axis values, and the ``--axis`` parser.

A :class:`Case` is frozen and knows its :class:`kernels.ConvSpec`; its name is
the layer label plus the value of every axis that varies in the sweep, so names
are unique within one backend and stable across runs (``compare`` and
``--resume`` match on them).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, fields

from kernels import SUPPORTED_DTYPES, ConvSpec, resolve_padding

from .presets import AXES, Layer, Preset

@dataclass(frozen=True)
class Case:
    """One point of a sweep (before choosing a backend): a layer with every axis fixed."""

    name: str
    layer: str
    N: int
    C: int
    H: int
    W: int
    F: int
    k: int
    stride: int
    padding: int | str
    dtype: str
    threads: int
    branch: str | None = None
    role: str | None = None

    @property
    def spec(self) -> ConvSpec:
        """The convolution's ConvSpec (raises ValueError/TypeError for an impossible shape)."""
        return ConvSpec(N=self.N, C=self.C, H=self.H, W=self.W, F=self.F, k=self.k, stride=self.stride,
                        padding=resolve_padding(self.padding, self.k), dtype=self.dtype)

    @property
    def key(self) -> tuple:
        """Identity of the point within a run (without the backend)."""
        return (self.name, self.N, self.C, self.H, self.W, self.F, self.k, self.stride, self.dtype, self.threads)


def parse_axis_value(name: str, text: str):
    """Parse one value of axis ``name``; raises ValueError naming the axis and the allowed values."""
    text = text.strip()
    if name == "dtype":
        if text not in SUPPORTED_DTYPES:
            raise ValueError(f"axis dtype: {text!r} is not one of {', '.join(SUPPORTED_DTYPES)}")
        return text
    if name == "padding" and text == "same":
        return text
    try:
        value = int(text)
    except ValueError:
        allowed = "an int >= 0 or 'same'" if name == "padding" else "an int"
        raise ValueError(f"axis {name}: {text!r} is not {allowed}") from None
    minimum = 0 if name == "padding" else 1
    if value < minimum:
        raise ValueError(f"axis {name}: {value} must be >= {minimum}")
    return value


def parse_axis(text: str) -> tuple[str, tuple]:
    """Parse ``NAME=v1,v2`` into (name, values); raises ValueError naming what is wrong."""
    name, sep, values = text.partition("=")
    name = name.strip()
    if not sep or not values.strip():
        raise ValueError(f"--axis {text!r}: expected NAME=v1,v2 with NAME one of {', '.join(AXES)}")
    if name not in AXES:
        raise ValueError(f"unknown axis {name!r}; axes are: {', '.join(AXES)}")
    parsed = tuple(parse_axis_value(name, v) for v in values.split(","))
    return name, tuple(dict.fromkeys(parsed))


def _layer_values(layer: Layer, dtype: str, threads: int) -> dict:
    values = {f.name: getattr(layer, f.name) for f in fields(Layer) if f.name in AXES}
    values.update(dtype=layer.dtype or dtype, threads=threads)
    return values


def build_cases(preset: Preset, overrides: dict | None = None, *, default_threads: int = 1,
                layers: list[Layer] | None = None) -> list[Case]:
    """Expand ``preset`` (or ``layers``) into Cases: every layer x every combination of axis values.

    ``overrides`` maps axis name -> tuple of values and replaces the preset's axis
    (or the layer's own value) for every layer. Cases are returned in layer order;
    impossible shapes are kept (their ``spec`` raises) so the sweep can record them.
    """
    axes = {"threads": (default_threads,)}
    axes.update(preset.axes)
    axes.update(overrides or {})
    varying = [a for a in AXES if len(axes.get(a, ())) > 1]
    cases = []
    for layer in layers if layers is not None else preset.layers:
        base = _layer_values(layer, "float32", default_threads)
        names = [a for a in AXES if a in axes]
        for combo in itertools.product(*(axes[a] for a in names)):
            values = dict(base, **dict(zip(names, combo)))
            suffix = " ".join(_axis_label(a, values[a]) for a in varying)
            cases.append(Case(name=f"{layer.label} {suffix}".strip(), layer=layer.label, branch=layer.branch,
                              role=layer.role, **values))
    return cases


def _axis_label(axis: str, value) -> str:
    if axis == "dtype":
        return str(value)
    if axis == "threads":
        return f"t={value}"
    return f"{axis}={value}"
