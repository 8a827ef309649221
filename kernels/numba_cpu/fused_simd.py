"""Compiled loops of ``numba-cpu-fused``'s ``"simd"`` mode: explicit SIMD over output channels.

The same machinery as ``numba-cpu`` (:mod:`kernels.numba_cpu.simd`, V lanes: 16 float32 in ``zmm``
on AVX-512, 8 in ``ymm`` on AVX2), applied to both stages of the chain, per parallel task (a band
of output rows of one image):

1. reduce: every reduced row the band reads goes into the task's channels-last scratch
   ``(rows, Wp, CR)`` (conv padding columns and rows outside the reduced tensor stay zero from
   prepare). A tile is ``RED_P`` reduced pixels (flattened over the band's rows) x one block of V
   reduced channels: per input channel one weight vector, one broadcast input value per pixel,
   all FMAs. The input is channels-last and zero-padded by the reduce's own padding.
2. conv: the oneDNN-style tile of :mod:`kernels.numba_cpu.blocked` (``TILE_P`` output pixels x
   ``TILE_B`` filter blocks) on the scratch, weights pre-blocked ``(NB, k, k, CR, V)``, written
   to NCHW transposed in registers, one masked store per filter.

All arrays are flat (C-contiguous) and every index is a flat element offset. No BLAS call.
"""
from __future__ import annotations

from numba import njit, prange

from .blocked import MAX_LANES, TILE_ACC, TILE_B, TILE_P, accumulate_tile, store_tile
from .isa import VECTOR_REGISTERS
from .simd import istack, vbroadcast, vfma, vlanes, vload, vstack, vstore, vstore_n, vzero

#: Reduced pixels per reduce tile (one block of V reduced channels): accumulators + weight + broadcast.
RED_P = 28 if VECTOR_REGISTERS == 32 else 12


@njit(parallel=True, fastmath=True, cache=True, boundscheck=False)
def fused_simd(xh, w1b, w2b, out, scr, dims):  # pragma: no cover - compiled
    """out (flat N,F,Ho,Wo) = conv(w2b, reduce_1x1(w1b, xh)), band by band.

    xh: flat (N, Hp1, Wp1, C), the input channels-last padded by the reduce's padding p1;
    w1b: flat (NB1, C, V) reduce weights in blocks of V reduced channels (zero past CR);
    w2b: flat (NB2, k, k, CR, V) conv weights (NB2 a multiple of TILE_B, zero past F);
    scr: flat (tasks, R, Wp2, CR) per-task scratch, zero from prepare where never written.
    dims = (N, C, Hp1, Wp1, s1, H1, W1, CR, F, k, s2, p2, Ho, Wo, band, R).
    """
    N, C, Hp1, Wp1, s1, H1, W1, CR, F, k, s2, p2, Ho, Wo, band, R = dims
    V = vlanes(w1b)
    Wp2 = W1 + 2 * p2
    n_bands = (Ho + band - 1) // band
    nb1 = (CR + V - 1) // V
    ng = (F + TILE_B * V - 1) // (TILE_B * V)
    blk = k * k * CR * V
    Q = Ho * Wo
    for task in prange(N * n_bands):
        n = task // n_bands
        oh0 = (task % n_bands) * band
        oh1 = min(oh0 + band, Ho)
        sb = task * R * Wp2 * CR
        top = oh0 * s2 - p2  # reduced row held in scratch row 0
        r_lo = max(top, 0)
        r_hi = min(top + (oh1 - oh0 - 1) * s2 + k, H1)
        # stage 1: reduced rows [r_lo, r_hi) into scratch rows r - top, columns p2 .. p2 + W1
        npix = max(r_hi - r_lo, 0) * W1
        src = istack(RED_P)
        dst = istack(RED_P)
        acc = vstack(w1b, RED_P)
        wv = vstack(w1b, 2)
        for t0 in range(0, npix, RED_P):
            for p in range(RED_P):
                t = min(t0 + p, npix - 1)
                r = r_lo + t // W1
                q = t % W1
                src[p] = ((n * Hp1 + r * s1) * Wp1 + q * s1) * C
                dst[p] = sb + ((r - top) * Wp2 + p2 + q) * CR
            if nb1 == 1:  # one block of reduced channels: RED_P pixels x 1 block
                reduce_tile(xh, w1b, scr, src, dst, 0, acc, wv, 0, C, CR, RED_P, 1, min(RED_P, npix - t0))
            else:  # RED_P/2 pixels x 2 blocks: half the broadcasts per FMA
                for h in range(0, RED_P, RED_P // 2):
                    for b in range(0, nb1 - 1, 2):
                        reduce_tile(xh, w1b, scr, src, dst, h, acc, wv, b, C, CR, RED_P // 2, 2,
                                    min(RED_P // 2, npix - t0 - h))
                    if nb1 % 2 == 1:
                        reduce_tile(xh, w1b, scr, src, dst, h, acc, wv, nb1 - 1, C, CR, RED_P // 2, 1,
                                    min(RED_P // 2, npix - t0 - h))
        # stage 2: the kxk conv over the band's output pixels, filter groups outermost
        nq = (oh1 - oh0) * Wo
        off = istack(TILE_P)
        obase = istack(TILE_P)
        tr = vstack(w2b, MAX_LANES)
        cacc = vstack(w2b, TILE_ACC)
        wv2 = vstack(w2b, TILE_B)
        for g in range(ng):
            for q0 in range(0, nq, TILE_P):
                for p in range(TILE_P):
                    q = min(q0 + p, nq - 1)
                    oh = q // Wo
                    off[p] = sb + (oh * s2 * Wp2 + (q - oh * Wo) * s2) * CR
                    obase[p] = n * F * Q + oh0 * Wo + q0 + p
                for a in range(TILE_ACC):
                    cacc[a] = vzero(w2b)
                accumulate_tile(scr, w2b, off, Wp2 * CR, k, CR, CR, g * TILE_B * blk, blk, cacc, wv2, TILE_B, TILE_P)
                store_tile(out, cacc, obase, Q, F, g * TILE_B, min(TILE_P, nq - q0), tr)


@njit(fastmath=True, boundscheck=False, inline="always")
def reduce_tile(xh, w1b, scr, src, dst, h, acc, wv, b0, C, CR, P, B, valid):  # pragma: no cover - compiled
    """P reduced pixels (input at flat ``src[h + p]``, output at ``dst[h + p]``) x B blocks of V reduced
    channels from block ``b0``: per input channel B weight vectors, one broadcast per pixel, P*B FMAs.
    Only the first ``valid`` pixels are stored; lanes past CR are not stored."""
    V = vlanes(w1b)
    for a in range(P * B):
        acc[a] = vzero(w1b)
    for c in range(C):
        for bb in range(B):
            wv[bb] = vload(w1b, (b0 + bb) * C * V + c * V)
        for p in range(P):
            xv = vbroadcast(xh, src[h + p] + c)
            for bb in range(B):
                acc[p * B + bb] = vfma(xv, wv[bb], acc[p * B + bb])
    for bb in range(B):
        nc = min(V, CR - (b0 + bb) * V)
        for p in range(valid):
            if nc == V:
                vstore(scr, dst[h + p] + (b0 + bb) * V, acc[p * B + bb])
            else:
                vstore_n(scr, dst[h + p] + (b0 + bb) * V, acc[p * B + bb], nc)
