"""ConvSpec: the one place that knows convolution shapes, plus the shared validation.

Every backend receives a :class:`ConvSpec` built by :func:`validate`; no backend
re-validates its arguments on its own.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass, fields

import numpy as np

SUPPORTED_DTYPES = ("float32", "float64")
#: Largest count a shape's FLOPs and bytes may reach (int64: run tables and numpy hold them so).
MAX_COUNT = 2**63 - 1
#: Bytes per element of the widest supported dtype (a shape's bytes are checked at it, whatever its dtype).
MAX_ITEMSIZE = 8


class ShapeOverflowError(ValueError):
    """A shape whose FLOPs or bytes do not fit in int64: no convolution anyone can run."""


@dataclass(frozen=True)
class ConvSpec:
    """Shape of one 2-D convolution in NCHW layout with square (F, C, k, k) weights.

    ``padding`` is always the resolved non-negative integer (``"same"`` is
    resolved by :func:`resolve_padding`). Derived quantities (output size,
    FLOPs, bytes, arithmetic intensity) are properties so they can never
    disagree with the shape.
    """

    N: int
    C: int
    H: int
    W: int
    F: int
    k: int
    stride: int = 1
    padding: int = 0
    dtype: str = "float32"

    def __post_init__(self) -> None:
        for name in _INT_FIELDS:
            value = getattr(self, name)
            if type(value) is not int and (isinstance(value, bool) or not isinstance(value, numbers.Integral)):
                raise TypeError(f"ConvSpec.{name} must be an int, got {value!r}")
        for name in ("C", "H", "W", "F", "k", "stride"):
            if getattr(self, name) < 1:
                raise ValueError(f"ConvSpec.{name} must be >= 1, got {getattr(self, name)}")
        if self.N < 0:
            raise ValueError(f"ConvSpec.N must be >= 0, got {self.N}")
        if self.padding < 0:
            raise ValueError(f"ConvSpec.padding must be >= 0, got {self.padding}")
        if self.dtype not in SUPPORTED_DTYPES:
            raise ValueError(f"ConvSpec.dtype must be one of {SUPPORTED_DTYPES}, got {self.dtype!r}")
        if self.stride > max(self.H, self.W) + 2 * self.padding:
            raise ValueError(f"ConvSpec.stride must be at most the padded input size "
                             f"{max(self.H, self.W) + 2 * self.padding}, got {self.stride}")
        if self.k > self.H + 2 * self.padding or self.k > self.W + 2 * self.padding:
            raise ValueError(
                f"kernel size k={self.k} is larger than the padded input "
                f"({self.H + 2 * self.padding}x{self.W + 2 * self.padding})"
            )
        for what, value in (("FLOPs", self.flops), ("bytes", self.elements() * MAX_ITEMSIZE)):
            if value > MAX_COUNT:  # Python ints never overflow, but the table's int64 columns and numpy do
                raise ShapeOverflowError(
                    f"{what} = {value:.3g} exceed the int64 range ({MAX_COUNT:.3g}): N={self.N} C={self.C} H={self.H} "
                    f"W={self.W} F={self.F} k={self.k} is no convolution anyone can run")

    @property
    def Ho(self) -> int:
        """Output height: (H + 2*padding - k) // stride + 1."""
        return (self.H + 2 * self.padding - self.k) // self.stride + 1

    @property
    def Wo(self) -> int:
        """Output width: (W + 2*padding - k) // stride + 1."""
        return (self.W + 2 * self.padding - self.k) // self.stride + 1

    @property
    def x_shape(self) -> tuple[int, int, int, int]:
        """Input shape (N, C, H, W)."""
        return (self.N, self.C, self.H, self.W)

    @property
    def w_shape(self) -> tuple[int, int, int, int]:
        """Weight shape (F, C, k, k)."""
        return (self.F, self.C, self.k, self.k)

    @property
    def out_shape(self) -> tuple[int, int, int, int]:
        """Output shape (N, F, Ho, Wo)."""
        return (self.N, self.F, self.Ho, self.Wo)

    @property
    def macs(self) -> int:
        """Multiply-accumulates: N*F*C*k*k*Ho*Wo."""
        return self.N * self.F * self.C * self.k * self.k * self.Ho * self.Wo

    @property
    def flops(self) -> int:
        """Floating-point operations, counting a multiply-add as 2: 2*N*F*C*k*k*Ho*Wo."""
        return 2 * self.macs

    @property
    def itemsize(self) -> int:
        """Bytes per element of ``dtype``."""
        return np.dtype(self.dtype).itemsize

    def elements(self) -> int:
        """Elements of input + weights + output."""
        return (self.N * self.C * self.H * self.W + self.F * self.C * self.k * self.k
                + self.N * self.F * self.Ho * self.Wo)

    @property
    def bytes(self) -> int:
        """Minimal bytes moved: input + weights + output, each touched once."""
        return self.elements() * self.itemsize

    @property
    def arithmetic_intensity(self) -> float:
        """FLOPs per minimal byte moved (FLOP/byte), the roofline x coordinate."""
        return self.flops / self.bytes

    @property
    def is_pointwise(self) -> bool:
        """True for an unpadded 1x1 convolution with stride 1, which is exactly one GEMM."""
        return self.k == 1 and self.stride == 1 and self.padding == 0


#: ConvSpec's integer fields (all but dtype), named once: __post_init__ runs for every layer of a layer file.
_INT_FIELDS = tuple(f.name for f in fields(ConvSpec) if f.name != "dtype")


def padded_input(x: np.ndarray, spec: ConvSpec) -> np.ndarray:
    """A new C-contiguous (N, C, H + 2p, W + 2p) copy of ``x`` with ``spec.padding`` zeros on every side."""
    p = spec.padding
    xp = np.zeros((spec.N, spec.C, spec.H + 2 * p, spec.W + 2 * p), dtype=spec.dtype)
    xp[:, :, p : p + spec.H, p : p + spec.W] = x
    return xp


def resolve_padding(padding, k: int) -> int:
    """Turn ``padding`` (int >= 0 or ``"same"``) into a non-negative int for kernel size ``k``."""
    if isinstance(padding, str):
        if padding != "same":
            raise ValueError(f"padding must be an int >= 0 or 'same', got {padding!r}")
        if k % 2 == 0:
            raise ValueError(f"padding='same' needs an odd kernel size, got k={k}")
        return (k - 1) // 2
    if isinstance(padding, bool) or not isinstance(padding, numbers.Integral):
        raise TypeError(f"padding must be an int >= 0 or 'same', got {type(padding).__name__} {padding!r}")
    if padding < 0:
        raise ValueError(f"padding must be an int >= 0 or 'same', got {padding}")
    return int(padding)


def _check_array(name: str, arr, expected: str) -> None:
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray {expected}, got {type(arr).__name__}")
    if isinstance(arr, np.ma.MaskedArray):  # a convolution would read the masked values as if they were data
        raise TypeError(f"{name} is a masked array: fill it first ({name}.filled(0)) or pass {name}.data")
    if arr.ndim != 4:
        raise ValueError(f"{name} must be 4-D {expected}, got shape {arr.shape}")
    if arr.dtype.name not in SUPPORTED_DTYPES:
        raise TypeError(f"{name}.dtype must be float32 or float64, got {arr.dtype}")


def native_byte_order(arr: np.ndarray) -> np.ndarray:
    """``arr`` itself if its dtype is in the machine's byte order, else a native-order copy (e.g. ``>f4``)."""
    if arr.dtype.isnative:
        return arr
    return arr.astype(arr.dtype.newbyteorder("="))


#: Most elements one zero-padded input plane (H + 2p) x (W + 2p) may have: 32-bit indexing's limit.
MAX_PADDED_PLANE = 2**31 - 1


def validate(x, w, stride=1, padding=0) -> ConvSpec:
    """Check a conv2d call and return its :class:`ConvSpec`.

    The one validation function shared by every backend. Raises ``TypeError``
    or ``ValueError`` naming the argument, the value and what was expected.
    Any memory layout (views, non-contiguous arrays) is accepted.
    """
    _check_array("x", x, "of shape (N, C, H, W)")
    _check_array("w", w, "of shape (F, C, k, k)")
    if x.dtype.name != w.dtype.name:  # by name: a big-endian float32 is float32 (conv2d converts it)
        raise TypeError(f"x and w must share one dtype, got x.dtype={x.dtype} and w.dtype={w.dtype}")
    if isinstance(stride, bool) or not isinstance(stride, numbers.Integral):
        raise TypeError(f"stride must be an int >= 1, got {type(stride).__name__} {stride!r}")
    if stride < 1:
        raise ValueError(f"stride must be an int >= 1, got {stride}")
    N, C, H, W = x.shape
    F, Cw, kh, kw = w.shape
    if kh != kw:
        raise ValueError(f"w must hold square kernels (F, C, k, k), got shape {w.shape}")
    if Cw != C:
        raise ValueError(f"channels differ: x has C={C} (x.shape={x.shape}) but w has C={Cw} (w.shape={w.shape})")
    for name, value in (("x channels C", C), ("x height H", H), ("x width W", W),
                        ("w filters F", F), ("w kernel size k", kh)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value} (x.shape={x.shape}, w.shape={w.shape})")
    pad = resolve_padding(padding, kh)
    if (H + 2 * pad) * (W + 2 * pad) > MAX_PADDED_PLANE:
        raise ValueError(f"padding={pad} makes each padded input plane {H + 2 * pad}x{W + 2 * pad}, over "
                         f"{MAX_PADDED_PLANE:.3g} elements: far more zeros than any convolution needs")
    if stride > max(H, W) + 2 * pad:
        raise ValueError(f"stride must be an int between 1 and the padded input size {max(H, W) + 2 * pad}, "
                         f"got {stride}")
    if kh > H + 2 * pad or kh > W + 2 * pad:
        raise ValueError(
            f"w kernel size k={kh} is larger than the padded input x "
            f"({H}x{W} with padding={pad}: {H + 2 * pad}x{W + 2 * pad})"
        )
    return ConvSpec(N=N, C=C, H=H, W=W, F=F, k=kh, stride=int(stride), padding=pad, dtype=x.dtype.name)
