"""Compiled loops of the ``numba-cpu`` backend (imported lazily: importing this module imports numba).

No BLAS call anywhere: every multiply-add is in these loops.
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



@njit(parallel=True, fastmath=True, cache=True, boundscheck=False)
def conv_nhwc_tiles(xh, wk, out, stride):  # pragma: no cover - compiled
    """Register-tiled direct convolution on channels-last data: 4 filters x 3 output pixels per tile.

    xh: (N, Hp, Wp*C) zero-padded input, channels last, each row flattened; wk: (F, k, k*C)
    weights with (kernel column, channel) flattened; out: (N, F, Ho, Wo). For kernel row i the
    window of one output pixel is one contiguous run of k*C values in xh (for any stride) and
    the matching weights are one contiguous run in wk, so the reduction is a dot product that
    LLVM vectorises over channels; the 12 accumulators stay in vector registers, and every
    loaded input vector feeds 4 FMAs, every weight vector 3. A parallel task is one output row
    of 4 filters (no integer division in the pixel loop); the last tile of a row clamps its
    column indices (loads stay in bounds) and skips the extra stores.
    """
    N = xh.shape[0]
    F, k, KC = wk.shape[0], wk.shape[1], wk.shape[2]
    C = KC // k
    Ho, Wo = out.shape[2], out.shape[3]
    n_fil = (F + 3) // 4
    step = stride * C
    for task in prange(N * n_fil * Ho):
        n = task // (n_fil * Ho)
        f0 = ((task // Ho) % n_fil) * 4
        oh = task % Ho
        f1, f2, f3 = min(f0 + 1, F - 1), min(f0 + 2, F - 1), min(f0 + 3, F - 1)
        zero = wk[0, 0, 0] - wk[0, 0, 0]  # 0 in the arrays' dtype (a literal 0.0 would be float64)
        for ow0 in range(0, Wo, 3):
            ow1, ow2 = min(ow0 + 1, Wo - 1), min(ow0 + 2, Wo - 1)
            s00 = s01 = s02 = s10 = s11 = s12 = s20 = s21 = s22 = s30 = s31 = s32 = zero
            for i in range(k):
                row = xh[n, oh * stride + i]
                x0 = row[ow0 * step : ow0 * step + KC]
                x1 = row[ow1 * step : ow1 * step + KC]
                x2 = row[ow2 * step : ow2 * step + KC]
                w0, w1, w2, w3 = wk[f0, i], wk[f1, i], wk[f2, i], wk[f3, i]
                for c in range(KC):
                    a0, a1, a2 = x0[c], x1[c], x2[c]
                    b = w0[c]
                    s00 += b * a0
                    s01 += b * a1
                    s02 += b * a2
                    b = w1[c]
                    s10 += b * a0
                    s11 += b * a1
                    s12 += b * a2
                    b = w2[c]
                    s20 += b * a0
                    s21 += b * a1
                    s22 += b * a2
                    b = w3[c]
                    s30 += b * a0
                    s31 += b * a1
                    s32 += b * a2
            _store3(out, n, f0, F, oh, ow0, Wo, s00, s01, s02)
            _store3(out, n, f0 + 1, F, oh, ow0, Wo, s10, s11, s12)
            _store3(out, n, f0 + 2, F, oh, ow0, Wo, s20, s21, s22)
            _store3(out, n, f0 + 3, F, oh, ow0, Wo, s30, s31, s32)


@njit(inline="always", boundscheck=False)
def _store3(out, n, f, F, oh, ow0, Wo, v0, v1, v2):  # pragma: no cover - compiled
    """Store one filter's three results of a row, skipping filters and columns past the edge."""
    if f < F:
        out[n, f, oh, ow0] = v0
        if ow0 + 1 < Wo:
            out[n, f, oh, ow0 + 1] = v1
        if ow0 + 2 < Wo:
            out[n, f, oh, ow0 + 2] = v2
