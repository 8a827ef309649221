"""Compiled loops of the ``numba-cpu-direct`` variant (imported lazily: importing this module imports numba).

The first Numba version, kept as the teaching baseline: plain axpy loops over NCHW, no register
blocking, no explicit vectors (``numba-cpu`` itself lives in :mod:`kernels.numba_cpu.blocked`
and :mod:`kernels.numba_cpu.gemm`). No BLAS call anywhere: every multiply-add is in these loops.
"""
from __future__ import annotations

from numba import njit, prange

#: Output channels one parallel task computes together.
F_BLOCK = 8


@njit(parallel=True, fastmath=True, cache=True, boundscheck=False)
def conv1x1(x, w, out):  # pragma: no cover - compiled
    """Pointwise convolution: x (N, C, P), w (F, C), out (N, F, P); axpy along contiguous pixels."""
    N, C, P = x.shape
    F = w.shape[0]
    nfb = (F + F_BLOCK - 1) // F_BLOCK
    for task in prange(N * nfb):
        n = task // nfb
        f0 = (task % nfb) * F_BLOCK
        f1 = min(f0 + F_BLOCK, F)
        for f in range(f0, f1):
            for p in range(P):
                out[n, f, p] = 0.0
        for c in range(C):
            for f in range(f0, f1):
                wv = w[f, c]
                for p in range(P):
                    out[n, f, p] += wv * x[n, c, p]


@njit(parallel=True, fastmath=True, cache=True, boundscheck=False)
def conv_direct(xp, w, out, stride):  # pragma: no cover - compiled
    """Direct convolution of a zero-padded input xp (N, C, Hp, Wp) with w (F, C, k, k) into out."""
    N, C = xp.shape[0], xp.shape[1]
    F, k = w.shape[0], w.shape[2]
    Ho, Wo = out.shape[2], out.shape[3]
    for task in prange(N * F):
        n = task // F
        f = task % F
        for oh in range(Ho):
            for ow in range(Wo):
                out[n, f, oh, ow] = 0.0
        for c in range(C):
            for i in range(k):
                for j in range(k):
                    wv = w[f, c, i, j]
                    for oh in range(Ho):
                        row = oh * stride + i
                        for ow in range(Wo):
                            out[n, f, oh, ow] += wv * xp[n, c, row, ow * stride + j]
