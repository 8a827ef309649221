"""Layers: one labelled convolution of a network, and the one list of shape fields and sweep axes.

A :class:`Layer` is the input of every sweep (presets, layer files, captured
models); :class:`harness.cases.Case` fixes its axes and :class:`kernels.ConvSpec`
computes its shapes. ``SHAPE_FIELDS`` is the one list of the fields that
describe a convolution's shape; ``AXES`` adds what a sweep can vary besides;
``POINT_KEY`` names the columns that identify a measured point in a run table.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from kernels import ConvSpec

#: The fields that describe one convolution's shape, in table order: ConvSpec's fields less dtype (one source).
SHAPE_FIELDS = tuple(f.name for f in dataclasses.fields(ConvSpec) if f.name != "dtype")
#: Axes a sweep can vary, in table order.
AXES = SHAPE_FIELDS + ("dtype", "threads")
#: The shape fields that are counts (padding may also be "same").
INT_SHAPE_FIELDS = tuple(f for f in SHAPE_FIELDS if f != "padding")
#: Columns of a run table that identify a point (padding is derived from the case, so not part of it).
POINT_KEY = ("backend", "case", *INT_SHAPE_FIELDS, "dtype", "threads")
#: Largest value of any shape field, axis value or layer count (beyond it, sizes overflow the kernels' integer
#: types; no real network comes near it).
MAX_DIM = 2**31 - 1
#: A layer's part in a reduction study: none, the unreduced kxk, the 1x1 in front, the kxk after it.
ROLES = (None, "direct", "reduce", "conv")


def key_text(value) -> str:
    """A key field as text that reads alike however a table holds it: whole floats without '.0' (1 and 1.0 are
    "1"), a missing value (None, NaN, an infinity) empty."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class Layer:
    """One labelled convolution: shape fields, padding (int or "same"), its reduction-study role and count.

    ``count`` is how many times the layer occurs in its network (network totals
    weight each layer's time by it).
    """

    label: str
    C: int
    H: int
    W: int
    F: int
    k: int
    stride: int = 1
    padding: int | str = 0
    N: int = 1
    branch: str | None = None
    role: str | None = None
    dtype: str | None = None
    count: int = 1

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"layer {self.label!r}: role must be one of {ROLES}, got {self.role!r}")
        if (self.branch is None) != (self.role is None):
            raise ValueError(f"layer {self.label!r}: branch and role go together")
        if isinstance(self.count, bool) or not isinstance(self.count, int) or not 1 <= self.count <= MAX_DIM:
            raise ValueError(f"layer {self.label!r}: count must be an int >= 1 (and at most {MAX_DIM}), "
                             f"got {self.count!r}")

    def shape(self) -> dict:
        """The layer's shape fields as a dict (``SHAPE_FIELDS`` order)."""
        return {name: getattr(self, name) for name in SHAPE_FIELDS}


_MISSING = [name for name in SHAPE_FIELDS if name not in {f.name for f in dataclasses.fields(Layer)}]
if _MISSING:  # ConvSpec gained a shape field that Layer does not carry yet (checked once, at import)
    raise TypeError(f"Layer lacks shape field(s) {_MISSING} of kernels.ConvSpec")
