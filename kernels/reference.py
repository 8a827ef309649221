"""An independent float64 reference convolution and the per-element error bound a backend must meet.

The reference shares no code with any backend: it zero-pads with ``np.pad``,
takes windows with ``sliding_window_view`` and contracts them with ``einsum``.

Tolerance (per output element i, over the n = C*k*k products p_j = x_j*w_j of its window)::

    tol_i = TOLERANCE_FACTOR * eps * sqrt(n) * sqrt(sum_j p_j**2)  +  n * tiny

Why: a float sum of n terms, in any order (sequential, blocked, pairwise, FMA,
``fastmath`` reassociation), commits at most one rounding error of relative size
u = eps/2 per addition, on a partial sum S_m: err = sum_m delta_m * S_m. With
independent rounding errors, err ~ u * sqrt(sum_m S_m**2), and for terms of
mixed sign |S_m| ~ sqrt(m) * rms(p), so err ~ u * sqrt(n/2) * ||p||_2, i.e.
eps * sqrt(n) * ||p||_2 is about three standard deviations of the sequential
float32 sum (the worst common order). Measured on real layers (C=3 7x7 up to
C=2048 1x1 and C=832 5x5), every backend's worst element stayed below 1.9 times
eps * sqrt(n) * ||p||_2; TOLERANCE_FACTOR = 4 leaves at least 2x margin, while a
1e-3 error on a C=512 3x3 layer (tol ~5e-4 there) fails. The ``n * tiny`` term
covers products flushed to zero by ``fastmath`` (denormals). The worst-case bound
eps * n * sum|p| would let a 1e-3 error pass, which is why it is not used.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .spec import ConvSpec

#: Multiple of eps * sqrt(n) * ||x*w||_2 a backend's error may reach (see the module docstring).
TOLERANCE_FACTOR = 4.0


def reference_conv2d(x: np.ndarray, w: np.ndarray, spec: ConvSpec) -> np.ndarray:
    """Float64 NCHW convolution of ``x`` with ``w`` as described by ``spec``."""
    x64 = np.asarray(x, dtype=np.float64)
    w64 = np.asarray(w, dtype=np.float64)
    p, s, k = spec.padding, spec.stride, spec.k
    xp = np.pad(x64, ((0, 0), (0, 0), (p, p), (p, p)))
    windows = sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::s, ::s]
    windows = windows[:, :, : spec.Ho, : spec.Wo]
    return np.einsum("nchwij,fcij->nfhw", windows, w64, optimize=True)


def tolerance(x: np.ndarray, w: np.ndarray, spec: ConvSpec) -> np.ndarray:
    """Per-element error bound (float64, shape ``spec.out_shape``) for a ``spec.dtype`` backend's output."""
    info = np.finfo(spec.dtype)
    n = spec.C * spec.k * spec.k
    x2 = np.square(np.asarray(x, dtype=np.float64))
    w2 = np.square(np.asarray(w, dtype=np.float64))
    l2 = np.sqrt(reference_conv2d(x2, w2, spec))
    return TOLERANCE_FACTOR * float(info.eps) * np.sqrt(n) * l2 + n * float(info.tiny)


def max_abs_error(out: np.ndarray, ref: np.ndarray) -> float:
    """Max absolute difference between a backend's output and the reference (inf on shape mismatch or NaN)."""
    if out.shape != ref.shape:
        return float("inf")
    if out.size == 0:
        return 0.0
    err = float(np.max(np.abs(out.astype(np.float64) - ref)))
    return err if np.isfinite(err) else float("inf")


def error_margin(out: np.ndarray, ref: np.ndarray, tol: np.ndarray) -> tuple[float, float]:
    """(margin, tolerance at the worst element): margin = max of |out - ref| / tol, <= 1 passes.

    The tolerance returned is the bound at the element with the largest absolute
    error, so ``max_abs_error(out, ref) <= it`` whenever the margin is <= 1.
    Shape mismatch or NaN gives (inf, min tol).
    """
    tol = np.broadcast_to(np.asarray(tol, dtype=np.float64), ref.shape)
    if out.shape != ref.shape:
        return float("inf"), float(np.min(tol, initial=np.inf))
    if out.size == 0:
        return 0.0, 0.0
    err = np.abs(out.astype(np.float64) - ref)
    if not np.isfinite(err).all():
        return float("inf"), float(np.min(tol))
    margin = float(np.max(err / tol))
    return margin, float(tol.flat[int(np.argmax(err))])
