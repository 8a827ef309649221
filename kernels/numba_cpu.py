"""``numba-cpu``: Numba ``@njit(parallel=True)`` loops of its own, no BLAS inside.

A specialised pointwise (1x1) path and a general direct kxk path; both are
parallelised with ``prange`` over batch x output-channel tasks. The compiled
loops live in :mod:`kernels._numba_cpu_loops`, imported on first use so that
``import kernels`` stays cheap.
"""
from __future__ import annotations

import numpy as np

from .backend import Backend, Prepared
from .registry import register
from .spec import ConvSpec


def _loops():
    from . import _numba_cpu_loops

    return _numba_cpu_loops


class NumbaPointwisePrepared(Prepared):
    """1x1 stride-1 convolution through the compiled pointwise loop."""

    def __init__(self, x: np.ndarray, w: np.ndarray, spec: ConvSpec):
        self.spec = spec
        self.x = np.ascontiguousarray(x).reshape(spec.N, spec.C, spec.H * spec.W)
        self.w = np.ascontiguousarray(w).reshape(spec.F, spec.C)
        self.out = np.empty((spec.N, spec.F, spec.H * spec.W), dtype=spec.dtype)
        self.kernel = _loops().conv1x1
        self.kernel.compile((numba_array_type(self.x), numba_array_type(self.w), numba_array_type(self.out)))

    def __call__(self) -> None:
        self.kernel(self.x, self.w, self.out)

    def result(self) -> np.ndarray:
        return self.out.reshape(self.spec.out_shape).copy()


class NumbaDirectPrepared(Prepared):
    """General kxk convolution (any stride/padding) through the compiled direct loop."""

    def __init__(self, x: np.ndarray, w: np.ndarray, spec: ConvSpec):
        p = spec.padding
        self.spec = spec
        self.xp = np.zeros((spec.N, spec.C, spec.H + 2 * p, spec.W + 2 * p), dtype=spec.dtype)
        self.xp[:, :, p : p + spec.H, p : p + spec.W] = x
        self.w = np.ascontiguousarray(w)
        self.out = np.empty(spec.out_shape, dtype=spec.dtype)
        self.kernel = _loops().conv_direct
        from numba import types

        self.kernel.compile(
            (numba_array_type(self.xp), numba_array_type(self.w), numba_array_type(self.out), types.intp)
        )

    def __call__(self) -> None:
        self.kernel(self.xp, self.w, self.out, self.spec.stride)

    def result(self) -> np.ndarray:
        return self.out.copy()


def numba_array_type(arr: np.ndarray):
    """The Numba type of a NumPy array, used to compile a specialisation ahead of the first call."""
    from numba import typeof

    return typeof(arr)


@register
class NumbaCpuBackend(Backend):
    """Numba parallel CPU loops (prange over batch x filter blocks); no BLAS call inside."""

    name = "numba-cpu"
    device = "cpu"
    description = "Numba @njit(parallel=True) loops: pointwise axpy path + direct kxk path"

    def unavailable_reason(self) -> str | None:
        try:
            import numba  # noqa: F401
        except ImportError as exc:  # pragma: no cover - numba is a core dependency
            return f"numba does not import: {exc}"
        return None

    def prepare(self, x, w, spec):
        if spec.is_pointwise:
            return NumbaPointwisePrepared(x, w, spec)
        return NumbaDirectPrepared(x, w, spec)
