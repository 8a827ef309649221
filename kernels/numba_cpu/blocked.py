"""Compiled loops of ``numba-cpu``'s direct convolution, vectorised over output channels.

The layout (made by :mod:`kernels.numba_cpu.layout` in ``prepare()``): the input zero-padded
and channels-last, ``xh = (N, Hp, Wp, C)``, and the weights in blocks of ``V`` output channels,
``wb = (NB, k, k, C, V)`` (``V`` = vector lanes; filters past ``F`` are zero). One tile is
``TILE_P`` output pixels x ``TILE_B`` filter blocks: for every tap and input channel it loads
``TILE_B`` weight vectors, broadcasts each pixel's input value and does ``TILE_P * TILE_B`` FMAs
into accumulators that stay in vector registers. No horizontal sums anywhere; the finished
tile is written to NCHW with one transposing store per vector. The pixels of a tile run along
the flattened ``(oh, ow)`` index, so narrow layers (7x7) waste no lanes. All arrays are passed
flattened (C-contiguous); every index below is a flat element offset.
"""
from __future__ import annotations

from numba import njit, prange

from .isa import VECTOR_REGISTERS
from .simd import istack, vbroadcast, vfma, vlanes, vload, vscatter, vstack, vzero

#: Filter blocks (of V output channels) per register tile.
TILE_B = 2
#: Output pixels per register tile: TILE_P * TILE_B accumulators + TILE_B weights + 1 broadcast.
TILE_P = 14 if VECTOR_REGISTERS == 32 else 6
#: Accumulator vectors of one tile.
TILE_ACC = TILE_P * TILE_B


@njit(fastmath=True, boundscheck=False, inline="always")
def accumulate_tile(src, wb, off, row, kC, wt0, blk, k, acc, wv):  # pragma: no cover - compiled
    """acc[p * TILE_B + b] += the k x k window of pixel p (flat ``off[p]`` in ``src``, rows ``row`` apart)
    times filter block b (from flat ``wt0 + b * blk`` in ``wb``): for each kernel row, one loop over the
    contiguous run of ``kC`` = k*C (kernel column, channel) values, TILE_B weight loads, a broadcast per
    pixel, TILE_P * TILE_B FMAs. Shared by the direct kernel and the fused one."""
    V = vlanes(wb)
    for i in range(k):
        tap = i * row
        wt = wt0 + i * kC * V
        for jc in range(kC):
            for b in range(TILE_B):
                wv[b] = vload(wb, wt + b * blk + jc * V)
            for p in range(TILE_P):
                xv = vbroadcast(src, off[p] + tap + jc)
                for b in range(TILE_B):
                    acc[p * TILE_B + b] = vfma(xv, wv[b], acc[p * TILE_B + b])


@njit(fastmath=True, boundscheck=False, inline="always")
def store_tile(out, acc, out0, Q, F, block0, q0, valid):  # pragma: no cover - compiled
    """Write a finished tile into NCHW ``out``: filter block ``block0 + b`` and tile pixel p go to flat
    ``out0 + f * Q + q0 + p`` (one transposing store per vector), for pixels ``q0 + p < valid`` and
    filters below F. Shared by the direct kernel and the fused one."""
    V = vlanes(out)
    for b in range(TILE_B):
        f0 = (block0 + b) * V
        nf = min(V, F - f0)
        if nf > 0:
            for p in range(TILE_P):
                if q0 + p < valid:
                    vscatter(out, out0 + f0 * Q + q0 + p, Q, acc[p * TILE_B + b], nf)


@njit(parallel=True, fastmath=True, cache=True, boundscheck=False)
def conv_oc_blocked(xh, wb, out, dims):  # pragma: no cover - compiled
    """out (flat NCHW) = conv of xh (flat N,Hp,Wp,C) with wb (flat NB,k,k,C,V).

    dims = (N, C, Hp, Wp, F, k, stride, Ho, Wo).
    """
    N, C, Hp, Wp, F, k, stride, Ho, Wo = dims
    V = vlanes(wb)
    Q = Ho * Wo
    nq = (Q + TILE_P - 1) // TILE_P
    ng = (F + TILE_B * V - 1) // (TILE_B * V)
    blk = k * k * C * V
    for task in prange(N * ng * nq):
        n = task // (ng * nq)
        g = (task // nq) % ng
        q0 = (task % nq) * TILE_P
        off = istack(TILE_P)
        for p in range(TILE_P):
            q = min(q0 + p, Q - 1)
            oh = q // Wo
            off[p] = ((n * Hp + oh * stride) * Wp + (q - oh * Wo) * stride) * C
        acc = vstack(wb, TILE_ACC)
        wv = vstack(wb, TILE_B)
        for a in range(TILE_ACC):
            acc[a] = vzero(wb)
        # kernel row i: (kernel column, channel) is one contiguous run of k*C values in both xh (for
        # every pixel, at any stride) and wb, so it is a single loop
        accumulate_tile(xh, wb, off, Wp * C, k * C, g * TILE_B * blk, blk, k, acc, wv)
        store_tile(out, acc, n * F * Q, Q, F, g * TILE_B, q0, Q)
