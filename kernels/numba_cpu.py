"""``numba-cpu``: Numba ``@njit(parallel=True)`` loops of its own, no BLAS call inside.

The registered ``numba-cpu`` kernel is a register-tiled direct convolution on a
layout made in ``prepare()``: the input zero-padded and channels-last, each row
flattened to ``(Wp*C)``, and the weights as ``(F, k, k*C)``. For kernel row i,
the window of an output pixel is then one contiguous run of ``k*C`` values (at
any stride) matching one contiguous run of weights, so the reduction over
(kernel column, channel) is a dot product LLVM vectorises over channels (AVX2
or AVX-512 FMA; check with ``inspect_asm``). Each parallel task computes
4 filters x 3 output pixels in 12 vector accumulators that stay in registers:
every loaded input vector feeds 4 FMAs, every weight vector 3. Tasks are
batch x filter blocks x pixel blocks; no allocation inside the parallel loop.

``numba-cpu-direct`` keeps the first version (axpy loops over NCHW, no
register blocking) as a variant so a sweep shows the progression; it runs only
when named with ``--backends``. The compiled loops live in
:mod:`kernels._numba_cpu_loops`, imported on first use so that ``import kernels``
stays cheap.
"""
from __future__ import annotations

import numpy as np

from .backend import Backend, Prepared
from .registry import register
from .spec import ConvSpec, padded_input

def _loops():
    from . import _numba_cpu_loops

    return _numba_cpu_loops


def _numba_reason() -> str | None:
    try:
        import numba  # noqa: F401
    except ImportError as exc:  # pragma: no cover - numba is a core dependency
        return f"numba does not import: {exc}"
    return None


def channels_last_layout(x: np.ndarray, w: np.ndarray, spec: ConvSpec):
    """Zero-padded channels-last input as (N, Hp, Wp*C) and weights as (F, k, k*C)."""
    p = spec.padding
    Hp, Wp = spec.H + 2 * p, spec.W + 2 * p
    xh = np.zeros((spec.N, Hp, Wp, spec.C), dtype=spec.dtype)
    xh[:, p : p + spec.H, p : p + spec.W, :] = x.transpose(0, 2, 3, 1)
    wk = np.ascontiguousarray(w.transpose(0, 2, 3, 1)).reshape(spec.F, spec.k, spec.k * spec.C)
    return xh.reshape(spec.N, Hp, Wp * spec.C), wk


class NumbaTiledPrepared(Prepared):
    """Channels-last padded input, flattened weights and the output, for the register-tiled kernel."""

    def __init__(self, x: np.ndarray, w: np.ndarray, spec: ConvSpec):
        self.spec = spec
        self.xh, self.wk = channels_last_layout(x, w, spec)
        self.out = np.empty(spec.out_shape, dtype=spec.dtype)
        self.kernel = _loops().conv_nhwc_tiles
        self()  # compile (or load from the cache) now, not in a timed call

    def __call__(self) -> None:
        self.kernel(self.xh, self.wk, self.out, self.spec.stride)

    def result(self) -> np.ndarray:
        return self.out.copy()


@register
class NumbaCpuBackend(Backend):
    """Numba parallel CPU: register-tiled direct convolution on a channels-last layout; no BLAS inside."""

    name = "numba-cpu"
    device = "cpu"
    description = "Numba @njit(parallel=True): register-tiled (4 filters x 3 pixels) channels-last direct conv"

    def unavailable_reason(self) -> str | None:
        return _numba_reason()

    def prepare(self, x, w, spec):
        return NumbaTiledPrepared(x, w, spec)


class NumbaPointwisePrepared(Prepared):
    """1x1 stride-1 convolution through the simple pointwise axpy loop."""

    def __init__(self, x: np.ndarray, w: np.ndarray, spec: ConvSpec):
        self.spec = spec
        self.x = np.ascontiguousarray(x).reshape(spec.N, spec.C, spec.H * spec.W)
        self.w = np.ascontiguousarray(w).reshape(spec.F, spec.C)
        self.out = np.empty((spec.N, spec.F, spec.H * spec.W), dtype=spec.dtype)
        self.kernel = _loops().conv1x1
        self.kernel(self.x, self.w, self.out)  # compile now

    def __call__(self) -> None:
        self.kernel(self.x, self.w, self.out)

    def result(self) -> np.ndarray:
        return self.out.reshape(self.spec.out_shape).copy()


class NumbaDirectPrepared(Prepared):
    """General kxk convolution (any stride/padding) through the simple direct loop."""

    def __init__(self, x: np.ndarray, w: np.ndarray, spec: ConvSpec):
        self.spec = spec
        self.xp = padded_input(x, spec)
        self.w = np.ascontiguousarray(w)
        self.out = np.empty(spec.out_shape, dtype=spec.dtype)
        self.kernel = _loops().conv_direct
        self.kernel(self.xp, self.w, self.out, spec.stride)  # compile now

    def __call__(self) -> None:
        self.kernel(self.xp, self.w, self.out, self.spec.stride)

    def result(self) -> np.ndarray:
        return self.out.copy()


@register
class NumbaCpuDirectBackend(Backend):
    """The first numba-cpu version, kept as a variant: axpy loops over plain NCHW, no blocking."""

    name = "numba-cpu-direct"
    device = "cpu"
    description = "Numba variant: unblocked axpy loops over NCHW (the starting point of numba-cpu)"
    in_default_sweep = False

    def unavailable_reason(self) -> str | None:
        return _numba_reason()

    def prepare(self, x, w, spec):
        if spec.is_pointwise:
            return NumbaPointwisePrepared(x, w, spec)
        return NumbaDirectPrepared(x, w, spec)
