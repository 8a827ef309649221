"""Compiled 1x1 convolution of ``numba-cpu``: a register-blocked GEMM straight on NCHW.

An unpadded stride-1 1x1 convolution is ``out[n] = W (F x C) @ x[n] (C x Q)`` with ``Q = H*W``
contiguous pixels, so it needs no layout change of the input at all: the kernel vectorises over
pixels. One tile is ``GEMM_R`` output channels x ``GEMM_B`` pixel vectors: per input channel it
loads ``GEMM_B`` input vectors, broadcasts ``GEMM_R`` weights (packed ``(F/R, C, R)`` in
``prepare()`` so they are contiguous) and does ``GEMM_R * GEMM_B`` FMAs into register
accumulators; the finished tile is stored as whole vectors into NCHW. The last pixel block uses
masked loads and stores. Tasks walk the filter groups innermost so one input panel
(``C x GEMM_B*V``) is reused from cache by every filter group; the threads claim chunks of
tasks as the direct kernel's do (:mod:`kernels.numba_cpu.schedule`). On Intel AVX-512 the input
is read from pixel panels made in ``prepare()`` instead of NCHW (``PACK_PIXELS``). No BLAS call.
"""
from __future__ import annotations

from numba import njit, prange

from .isa import GEMM_PACK_PIXELS, VECTOR_REGISTERS
from .schedule import chunk_tasks, next_chunk, reset_chunks
from .simd import vbroadcast, vfma, vlanes, vload, vload_n, vstack, vstore, vstore_n, vzero

#: Output channels per GEMM tile (rows of W). On AVX-512 8 rows x 2 vectors (16 accumulators) is as
#: fast as 14 x 2 on whole tiles (Zen 5, one core: 190-217 GFLOP/s either way) and wastes far less on
#: the few-filter reduces of Inception (F = 16, 24, 32, 48: 14 rows padded them to 28, 28, 42, 56);
#: on AVX2 the classic 6 x 2 (12 of 16 ymm) stays.
GEMM_R = 8 if VECTOR_REGISTERS == 32 else 6
#: Pixel vectors per GEMM tile.
GEMM_B = 2
#: Accumulator vectors of one tile.
GEMM_ACC = GEMM_R * GEMM_B
#: Whether ``prepare()`` lays the input's pixels out in panels of one tile's width (see :mod:`.isa`).
PACK_PIXELS = GEMM_PACK_PIXELS


@njit(parallel=True, fastmath=True, cache=True, boundscheck=False)
def conv1x1_gemm(x, wp, out, dims, chunks):  # pragma: no cover - compiled
    """out (flat N,F,Q) = wp (flat NR,C,R packed W) @ x per image; dims = (N, C, Q, F, packed).

    ``x`` is the NCHW input (flat N,C,Q) when ``packed`` is 0, else its pixels in panels of one
    tile's width (flat N, nq, C, GEMM_B*V; from :func:`kernels.numba_cpu.layout.pack_pixels`), so a
    tile reads one contiguous run instead of C runs of two vectors Q apart.

    ``chunks`` (int64, from :func:`kernels.numba_cpu.schedule.task_chunks`): the chunks of tasks the
    workers claim.
    """
    N, C, Q, F, packed = dims
    V = vlanes(x)
    width = GEMM_B * V
    nq = (Q + width - 1) // width
    nr = (F + GEMM_R - 1) // GEMM_R
    tasks = N * nq * nr
    reset_chunks(chunks)
    for w in prange(chunks[0]):
        acc = vstack(x, GEMM_ACC)
        xv = vstack(x, GEMM_B)
        c, k = next_chunk(chunks, w, 0)
        while c >= 0:
            lo, hi = chunk_tasks(chunks, c, tasks)
            for task in range(lo, hi):
                gemm_task(x, wp, out, dims, task // (nq * nr), ((task // nr) % nq) * width, task % nr, acc, xv)
            c, k = next_chunk(chunks, w, k)


def gemm_task_count(N: int, Q: int, F: int, lanes: int) -> int:
    """How many tasks :func:`conv1x1_gemm` runs on N images of Q pixels and F filters, V = lanes."""
    return N * -(-Q // (GEMM_B * lanes)) * -(-F // GEMM_R)


@njit(fastmath=True, boundscheck=False, inline="always")
def gemm_task(x, wp, out, dims, n, q0, g, acc, xv):  # pragma: no cover - compiled
    """One tile of :func:`conv1x1_gemm`: image n, pixels from q0, filter rows of group g."""
    N, C, Q, F, packed = dims
    V = vlanes(x)
    width = GEMM_B * V
    for a in range(GEMM_ACC):
        acc[a] = vzero(x)
    xb = n * C * Q + q0
    pitch = Q
    if packed:  # panels of width pixels, zero-padded past Q: whole loads only
        xb = (n * ((Q + width - 1) // width) + q0 // width) * C * width
        pitch = width
    wb = g * C * GEMM_R
    if q0 + width <= Q or packed:
        for c in range(C):
            for b in range(GEMM_B):
                xv[b] = vload(x, xb + c * pitch + b * V)
            for r in range(GEMM_R):
                wr = vbroadcast(wp, wb + c * GEMM_R + r)
                for b in range(GEMM_B):
                    acc[r * GEMM_B + b] = vfma(wr, xv[b], acc[r * GEMM_B + b])
    else:
        for c in range(C):
            for b in range(GEMM_B):
                xv[b] = vload_n(x, xb + c * Q + b * V, Q - q0 - b * V)
            for r in range(GEMM_R):
                wr = vbroadcast(wp, wb + c * GEMM_R + r)
                for b in range(GEMM_B):
                    acc[r * GEMM_B + b] = vfma(wr, xv[b], acc[r * GEMM_B + b])
    for r in range(GEMM_R):
        f = g * GEMM_R + r
        if f < F:
            ob = (n * F + f) * Q + q0
            for b in range(GEMM_B):
                if q0 + (b + 1) * V <= Q:
                    vstore(out, ob + b * V, acc[r * GEMM_B + b])
                else:
                    vstore_n(out, ob + b * V, acc[r * GEMM_B + b], Q - q0 - b * V)
