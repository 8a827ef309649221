"""Compiled layout changes for ``numba-cpu``'s ``prepare()``: parallel Numba loops, no NumPy copies.

A NumPy ``transpose`` + ``copy`` of a large input or weight tensor runs on one core and, for the
weights of a 3x3 layer with 512 channels, takes longer than the convolution itself; these loops
run on every core and walk the source in cache-sized blocks.
"""
from __future__ import annotations

from numba import njit, prange

#: Pixels per block of the NCHW -> NHWC transpose (one cache line of float32).
T_BLOCK = 16


@njit(parallel=True, fastmath=True, cache=True, boundscheck=False)
def to_padded_nhwc(x, xh, pad):  # pragma: no cover - compiled
    """Copy x (N, C, H, W; any strides) into xh (N, H+2p, W+2p, Cp >= C), writing the zero border too
    (and zeros in the channels past C, a pitch padding).

    Each task is one row of ``xh``; the interior is transposed in blocks of ``T_BLOCK`` pixels
    (reads one cache line of a channel, writes ``T_BLOCK`` short runs that stay in L1).
    """
    N, C, H, W = x.shape
    Cp = xh.shape[3]
    Hp, Wp = H + 2 * pad, W + 2 * pad
    for task in prange(N * Hp):
        n = task // Hp
        hp = task % Hp
        h = hp - pad
        if h < 0 or h >= H:
            for wp in range(Wp):
                for c in range(Cp):
                    xh[n, hp, wp, c] = 0
            continue
        for e in range(pad):
            for c in range(Cp):
                xh[n, hp, e, c] = 0
                xh[n, hp, Wp - 1 - e, c] = 0
        for w in range(W):
            for c in range(C, Cp):
                xh[n, hp, w + pad, c] = 0
        for w0 in range(0, W, T_BLOCK):
            w1 = min(w0 + T_BLOCK, W)
            for c in range(C):
                for w in range(w0, w1):
                    xh[n, hp, w + pad, c] = x[n, c, h, w]


@njit(parallel=True, fastmath=True, cache=True, boundscheck=False)
def block_filters(w, wb):  # pragma: no cover - compiled
    """Weights w (F, C, k, k; any strides) as wb (NB, k, k, C, V): V output channels per block.

    Output channels past F are zero. One task is one (block, input channel): it reads V runs of
    k*k weights and writes k*k vectors.
    """
    F, C, k = w.shape[0], w.shape[1], w.shape[2]
    NB, V = wb.shape[0], wb.shape[4]
    for task in prange(NB * C):
        b = task // C
        c = task % C
        for i in range(k):
            for j in range(k):
                for lane in range(V):
                    f = b * V + lane
                    if f < F:
                        wb[b, i, j, c, lane] = w[f, c, i, j]
                    else:
                        wb[b, i, j, c, lane] = 0


@njit(parallel=True, fastmath=True, cache=True, boundscheck=False)
def pack_rows(w, wp):  # pragma: no cover - compiled
    """1x1 weights w (F, C, 1, 1; any strides) as wp (NR, C, R): R output channels interleaved.

    Rows past F are zero.
    """
    F, C = w.shape[0], w.shape[1]
    NR, R = wp.shape[0], wp.shape[2]
    for g in prange(NR):
        for c in range(C):
            for r in range(R):
                f = g * R + r
                if f < F:
                    wp[g, c, r] = w[f, c, 0, 0]
                else:
                    wp[g, c, r] = 0


@njit(parallel=True, fastmath=True, cache=True, boundscheck=False)
def pack_pixels(x, xp):  # pragma: no cover - compiled
    """x (N, C, Q; any strides) as xp (N, NQ, C, W): the pixels in panels of W, zeros past Q.

    One task is one (image, panel): it reads C runs of W pixels and writes them one after another.
    """
    N, C, Q = x.shape
    NQ, W = xp.shape[1], xp.shape[3]
    for task in prange(N * NQ):
        n = task // NQ
        q0 = (task % NQ) * W
        for c in range(C):
            for j in range(W):
                if q0 + j < Q:
                    xp[n, task % NQ, c, j] = x[n, c, q0 + j]
                else:
                    xp[n, task % NQ, c, j] = 0
