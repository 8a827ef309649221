"""Compiled loops of ``numba-cpu``'s direct convolution, vectorised over output channels.

The layout (made by :mod:`kernels.numba_cpu_layout` in ``prepare()``): the input zero-padded
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

from .numba_isa import VECTOR_REGISTERS
from .numba_simd import istack, vbroadcast, vfma, vlanes, vload, vscatter, vstack, vzero

#: Filter blocks (of V output channels) per register tile.
TILE_B = 2
#: Output pixels per register tile: TILE_P * TILE_B accumulators + TILE_B weights + 1 broadcast.
TILE_P = 14 if VECTOR_REGISTERS == 32 else 6
#: Accumulator vectors of one tile.
TILE_ACC = TILE_P * TILE_B
#: Byte distance between the input pixels of a tile that :func:`channel_pitch` avoids: at a multiple
#: of it the TILE_P broadcast streams fall into one or two sets of the L1 cache (64 sets of 64 bytes)
#: and evict one another. Zen 5, one core, C=512 stride 2 (4 KiB apart): conv5 3x3/2 87 -> 128
#: GFLOP/s, conv4 downsample/2 104 -> 160 with the channels padded by one cache line.
ALIAS_BYTES = 2048


def channel_pitch(C: int, stride: int, itemsize: int) -> int:
    """Channels-last pixel pitch (in elements) for C channels: C, or C plus one cache line when the
    distance between a tile's input pixels (stride * C elements) is a multiple of ALIAS_BYTES."""
    if (stride * C * itemsize) % ALIAS_BYTES == 0:
        return C + 64 // itemsize
    return C


@njit(fastmath=True, boundscheck=False, inline="always")
def accumulate_tile(src, wb, off, row, k, C, Cp, wt0, blk, acc, wv):  # pragma: no cover - compiled
    """acc[p * TILE_B + b] += the k x k window of pixel p (flat ``off[p]`` in ``src``, rows ``row`` apart,
    pixels ``Cp`` >= C apart) times filter block b (from flat ``wt0 + b * blk`` in ``wb``): TILE_B weight
    loads, a broadcast per pixel and TILE_P * TILE_B FMAs per (tap, channel). When ``Cp == C`` the k*C
    (kernel column, channel) values of a kernel row are one contiguous run, so one loop; else one run of
    C per kernel column. Shared by the direct kernel and the fused one."""
    V = vlanes(wb)
    kC = k * C
    ncol = 1 if Cp == C else k
    run = kC if Cp == C else C
    for i in range(k):
        wt = wt0 + i * kC * V
        for j in range(ncol):
            xo = i * row + j * Cp
            wj = wt + j * run * V
            for c in range(run):
                for b in range(TILE_B):
                    wv[b] = vload(wb, wj + b * blk + c * V)
                for p in range(TILE_P):
                    xv = vbroadcast(src, off[p] + xo + c)
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
    """out (flat NCHW) = conv of xh (flat N,Hp,Wp,Cp) with wb (flat NB,k,k,C,V); channels past C in xh
    (the pitch padding :func:`channel_pitch` adds) are never read.

    dims = (N, C, Cp, Hp, Wp, F, k, stride, Ho, Wo).
    """
    N, C, Cp, Hp, Wp, F, k, stride, Ho, Wo = dims
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
            off[p] = ((n * Hp + oh * stride) * Wp + (q - oh * Wo) * stride) * Cp
        acc = vstack(wb, TILE_ACC)
        wv = vstack(wb, TILE_B)
        for a in range(TILE_ACC):
            acc[a] = vzero(wb)
        accumulate_tile(xh, wb, off, Wp * Cp, k, C, Cp, g * TILE_B * blk, blk, acc, wv)
        store_tile(out, acc, n * F * Q, Q, F, g * TILE_B, q0, Q)
