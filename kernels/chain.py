"""Two convolutions in a row ("reduce, then convolve"): ChainSpec, validation, reference, entry point.

GoogLeNet puts a 1x1 "reduce" convolution in front of each 3x3/5x5 one. A chain
is that pair: ``out = conv(reduce(x, w_reduce), w_conv)``. :class:`ChainSpec`
holds the two :class:`ConvSpec` s and derives the chain's FLOPs, its fused
minimum of bytes and the intermediate's shape; :func:`validate_chain` builds it
by calling :func:`kernels.validate` once per stage (no validation of its own
besides the link between the stages). Chain backends and the entry point
:func:`kernels.conv2d_chain` live in :mod:`kernels.chain_backend`.

>>> import numpy as np, kernels
>>> x = np.ones((1, 8, 6, 6), np.float32)
>>> w1 = np.ones((2, 8, 1, 1), np.float32); w2 = np.ones((4, 2, 3, 3), np.float32)
>>> kernels.conv2d_chain(x, w1, w2, padding="same", backend="numpy").shape
(1, 4, 6, 6)
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .reference import reference_conv2d, tolerance
from .spec import ConvSpec, validate


@dataclass(frozen=True)
class ChainSpec:
    """Shapes of ``conv(reduce(x))``: the reduce stage (usually 1x1) feeding the conv stage.

    The intermediate (N, reduce.F, reduce.Ho, reduce.Wo) is exactly the conv stage's input.
    """

    reduce: ConvSpec
    conv: ConvSpec

    def __post_init__(self) -> None:
        r, c = self.reduce, self.conv
        if not isinstance(r, ConvSpec) or not isinstance(c, ConvSpec):
            raise TypeError("ChainSpec.reduce and ChainSpec.conv must be ConvSpec instances")
        if (r.N, r.F, r.Ho, r.Wo) != (c.N, c.C, c.H, c.W):
            raise ValueError(f"ChainSpec: the conv stage's input {c.x_shape} is not the reduce stage's "
                             f"output {r.out_shape}")
        if r.dtype != c.dtype:
            raise ValueError(f"ChainSpec: stage dtypes differ ({r.dtype} and {c.dtype})")

    @property
    def N(self) -> int:
        """Batch size."""
        return self.reduce.N

    @property
    def dtype(self) -> str:
        """The one dtype of input, weights, intermediate and output."""
        return self.reduce.dtype

    @property
    def x_shape(self) -> tuple[int, int, int, int]:
        """Input shape (N, C, H, W)."""
        return self.reduce.x_shape

    @property
    def mid_shape(self) -> tuple[int, int, int, int]:
        """Intermediate (reduced) tensor shape (N, C_red, H1, W1)."""
        return self.reduce.out_shape

    @property
    def out_shape(self) -> tuple[int, int, int, int]:
        """Output shape (N, F, Ho, Wo)."""
        return self.conv.out_shape

    @property
    def flops(self) -> int:
        """FLOPs of both stages (a multiply-add counts 2)."""
        return self.reduce.flops + self.conv.flops

    @property
    def bytes(self) -> int:
        """Minimal bytes of a fused chain: x + w_reduce + w_conv + out; the intermediate never leaves cache."""
        r, c = self.reduce, self.conv
        elements = r.N * r.C * r.H * r.W + r.F * r.C * r.k * r.k + c.F * c.C * c.k * c.k
        elements += c.N * c.F * c.Ho * c.Wo
        return elements * r.itemsize

    @property
    def unfused_bytes(self) -> int:
        """Minimal bytes of two separate calls: each stage's ``bytes`` (the intermediate written, then read)."""
        return self.reduce.bytes + self.conv.bytes

    @property
    def arithmetic_intensity(self) -> float:
        """FLOPs per fused minimal byte."""
        return self.flops / self.bytes


def validate_chain(x, w_reduce, w_conv, *, stride_reduce=1, padding_reduce=0, stride=1, padding=0) -> ChainSpec:
    """Check a chain call and return its :class:`ChainSpec`.

    Each stage is checked by :func:`kernels.validate`, whose messages are re-raised with this
    function's argument names (``w_reduce``, ``stride_reduce``, ... for the reduce stage;
    ``w_conv`` and ``intermediate`` (the reduce output) for the conv stage); only the link between the stages
    is checked here: ``w_conv`` must have as many input channels as ``w_reduce`` has filters.
    """
    first = _stage(x, w_reduce, stride_reduce, padding_reduce,
                   names={"w": "w_reduce", "stride": "stride_reduce", "padding": "padding_reduce"})
    if not isinstance(w_conv, np.ndarray) or w_conv.ndim != 4:
        shape = getattr(w_conv, "shape", type(w_conv).__name__)
        raise (TypeError if not isinstance(w_conv, np.ndarray) else ValueError)(
            f"w_conv must be a 4-D numpy.ndarray of shape (F, C, k, k), got {shape}")
    if w_conv.shape[1] != first.F:
        raise ValueError(f"w_conv has C={w_conv.shape[1]} but w_reduce produces F={first.F} channels "
                         f"(w_reduce.shape={w_reduce.shape}, w_conv.shape={w_conv.shape})")
    # The conv stage's input is the intermediate: a zero-strided stand-in of its shape and dtype.
    mid = np.lib.stride_tricks.as_strided(np.zeros(1, dtype=x.dtype), shape=first.out_shape,
                                          strides=(0, 0, 0, 0), writeable=False)
    second = _stage(mid, w_conv, stride, padding, names={"w": "w_conv", "x": "intermediate"})
    return ChainSpec(reduce=first, conv=second)


def _stage(x, w, stride, padding, names):
    """:func:`kernels.validate` of one stage, its errors re-raised with the chain's argument names."""
    try:
        return validate(x, w, stride, padding)
    except (TypeError, ValueError) as exc:
        text = str(exc)
        for old, new in names.items():
            text = re.sub(rf"\b{old}\b", new, text)
        raise type(exc)(text) from None


def reference_chain(x: np.ndarray, w_reduce: np.ndarray, w_conv: np.ndarray, spec: ChainSpec) -> np.ndarray:
    """Float64 chain: the independent :func:`reference_conv2d` applied twice (intermediate kept in float64)."""
    mid = reference_conv2d(x, w_reduce, spec.reduce)
    return reference_conv2d(mid, w_conv, spec.conv)


def chain_tolerance(x: np.ndarray, w_reduce: np.ndarray, w_conv: np.ndarray, spec: ChainSpec) -> np.ndarray:
    """Per-element error bound of a chain output (shape ``spec.out_shape``), composed from :func:`tolerance`.

    A backend's intermediate is off by at most ``t1 = tolerance(x, w_reduce)`` element by element;
    the conv stage sums products of it with the conv weights, so that error reaches each output at
    most ``conv(t1, |w_conv|)`` (the same window sum, on the bounds). On top comes the conv stage's
    own rounding, ``tolerance(mid, w_conv)`` with ``mid`` the float64 reference intermediate.
    """
    mid = reference_conv2d(x, w_reduce, spec.reduce)
    t1 = tolerance(x, w_reduce, spec.reduce)
    carried = reference_conv2d(t1, np.abs(np.asarray(w_conv, dtype=np.float64)), spec.conv)
    return tolerance(mid, w_conv, spec.conv) + carried
