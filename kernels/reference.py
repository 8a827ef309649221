"""An independent float64 reference convolution and the tolerance a backend must meet.

The reference shares no code with any backend: it zero-pads with ``np.pad``,
takes windows with ``sliding_window_view`` and contracts them with ``einsum``.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .spec import ConvSpec

#: Safety factor on the summation error bound ``eps * C*k*k * max|x| * max|w|``.
TOLERANCE_FACTOR = 8.0


def reference_conv2d(x: np.ndarray, w: np.ndarray, spec: ConvSpec) -> np.ndarray:
    """Float64 NCHW convolution of ``x`` with ``w`` as described by ``spec``."""
    x64 = np.asarray(x, dtype=np.float64)
    w64 = np.asarray(w, dtype=np.float64)
    p, s, k = spec.padding, spec.stride, spec.k
    xp = np.pad(x64, ((0, 0), (0, 0), (p, p), (p, p)))
    windows = sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::s, ::s]
    windows = windows[:, :, : spec.Ho, : spec.Wo]
    return np.einsum("nchwij,fcij->nfhw", windows, w64, optimize=True)


def tolerance(x: np.ndarray, w: np.ndarray, spec: ConvSpec) -> float:
    """Largest acceptable max-abs error for ``spec.dtype``, scaled with the reduction length C*k*k."""
    eps = np.finfo(spec.dtype).eps
    scale = float(np.max(np.abs(x), initial=0.0)) * float(np.max(np.abs(w), initial=0.0))
    reduction = spec.C * spec.k * spec.k
    return TOLERANCE_FACTOR * eps * reduction * max(scale, np.finfo(spec.dtype).tiny)


def max_abs_error(out: np.ndarray, ref: np.ndarray) -> float:
    """Max absolute difference between a backend's output and the reference (inf on shape mismatch or NaN)."""
    if out.shape != ref.shape:
        return float("inf")
    if out.size == 0:
        return 0.0
    err = float(np.max(np.abs(out.astype(np.float64) - ref)))
    return err if np.isfinite(err) else float("inf")
