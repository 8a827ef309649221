"""Compiled loops of ``numba-cpu``'s direct convolution, vectorised over output channels.

The layout (made by :mod:`kernels.numba_cpu.layout` in ``prepare()``): the input zero-padded
and channels-last, ``xh = (N, Hp, Wp, Cp)`` (``Cp`` = C, or C + one cache line, see
:func:`channel_pitch`), and the weights in blocks of ``V`` output channels,
``wb = (NB, k, k, C, V)`` (``V`` = vector lanes; filters past ``F`` are zero). One tile is
``TILE_P`` output pixels x ``TILE_B`` filter blocks: for every tap and input channel it loads
``TILE_B`` weight vectors, broadcasts each pixel's input value and does ``TILE_P * TILE_B`` FMAs
into accumulators that stay in vector registers. No horizontal sums anywhere; the finished
tile is transposed in registers and written to NCHW with one masked store per filter. The pixels
of a tile run along the flattened ``(n, oh, ow)`` index, so narrow layers (7x7) waste no lanes
and a batch only ever has one partial tile. All arrays are passed flattened (C-contiguous);
every index below is a flat element offset.
"""
from __future__ import annotations

from numba import njit, prange

from .isa import VECTOR_BYTES, VECTOR_REGISTERS
from .schedule import chunk_tasks, next_chunk, reset_chunks
from .simd import istack, vbroadcast, vfma, vlanes, vload, vstack, vstore_range, vtranspose, vzero

#: Filter blocks (of V output channels) per register tile.
TILE_B = 2
#: Output pixels per register tile: TILE_P * TILE_B accumulators + TILE_B weights + 1 broadcast.
TILE_P = 14 if VECTOR_REGISTERS == 32 else 6
#: Accumulator vectors of one tile.
TILE_ACC = TILE_P * TILE_B
#: Pixels of the half tile that a batch's last tile uses when it holds no more than that.
HALF_P = TILE_P // 2
#: Lanes of the widest vector (float32): the scratch block of :func:`store_tile`'s transpose.
MAX_LANES = VECTOR_BYTES // 4
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
def accumulate_tile(src, wb, off, row, k, C, Cp, wt0, blk, acc, wv, nb, npix):  # pragma: no cover - compiled
    """acc[p * TILE_B + b] += the k x k window of pixel p < npix (flat ``off[p]`` in ``src``, rows ``row``
    apart, pixels ``Cp`` >= C apart) times filter block b < nb (from flat ``wt0 + b * blk`` in ``wb``):
    nb weight loads, a broadcast per pixel and npix * nb FMAs per (tap, channel). ``nb`` (TILE_B or 1)
    and ``npix`` (TILE_P or HALF_P) are literals, so each pair is its own unrolled loop. When
    ``Cp == C`` the k*C (kernel column, channel) values of a kernel row are one contiguous run, so one
    loop; else one run of C per kernel column. Shared by the direct kernel and the fused one."""
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
                for b in range(nb):
                    wv[b] = vload(wb, wj + b * blk + c * V)
                for p in range(npix):
                    xv = vbroadcast(src, off[p] + xo + c)
                    for b in range(nb):
                        acc[p * TILE_B + b] = vfma(xv, wv[b], acc[p * TILE_B + b])


@njit(fastmath=True, boundscheck=False, inline="always")
def store_tile(out, acc, obase, Q, F, block0, valid, t):  # pragma: no cover - compiled
    """Write a finished tile into NCHW ``out``: filter f of block ``block0 + b`` and tile pixel p < valid
    go to flat ``obase[p] + f * Q``, filters below F. The accumulators (a pixel's filters per vector)
    are transposed in registers (:func:`vtranspose`, through ``t``, a vstack of MAX_LANES) so that a
    filter's consecutive pixels, up to V at a time, are written with one masked store; a tile whose
    pixels jump (into the next image) is written run by run. Shared by the direct and fused kernels."""
    V = vlanes(out)
    for b in range(TILE_B):
        f0 = (block0 + b) * V
        nf = min(V, F - f0)
        if nf > 0:
            for c0 in range(0, TILE_P, V):
                for r in range(V):
                    if c0 + r < TILE_P:
                        t[r] = acc[(c0 + r) * TILE_B + b]
                    else:
                        t[r] = vzero(out)
                vtranspose(t)
                cnt = min(V, valid - c0)
                lo = 0
                while lo < cnt:
                    base = obase[c0 + lo] - lo + f0 * Q
                    hi = lo + 1
                    while hi < cnt and obase[c0 + hi] == obase[c0 + lo] + hi - lo:
                        hi += 1
                    for f in range(V):
                        if f < nf:
                            vstore_range(out, base + f * Q, t[f], lo, hi)
                    lo = hi


@njit(parallel=True, fastmath=True, cache=True, boundscheck=False)
def conv_oc_blocked(xh, wb, out, dims, chunks):  # pragma: no cover - compiled
    """out (flat NCHW) = conv of xh (flat N,Hp,Wp,Cp) with wb (flat NB,k,k,C,V); channels past C in xh
    (the pitch padding :func:`channel_pitch` adds) are never read.

    dims = (N, C, Cp, Hp, Wp, F, k, stride, Ho, Wo). The tiles run over the output pixels of all
    images as one sequence, so only the last tile of the batch can be partial (7x7 outputs: 49 pixels
    are 3.5 tiles per image); a task is one tile x one filter group, and the tasks of one image's worth
    of tiles run filter group by filter group. ``chunks`` (int64, from
    :func:`kernels.numba_cpu.schedule.task_chunks`): the chunks of tasks the workers claim (a
    worker whose thread is preempted holds up only its chunk).
    """
    N, C, Cp, Hp, Wp, F, k, stride, Ho, Wo = dims
    V = vlanes(wb)
    Q = Ho * Wo
    NQ = N * Q
    nt = (NQ + TILE_P - 1) // TILE_P
    nq = max(1, min((Q + TILE_P - 1) // TILE_P, nt))
    ng = (F + TILE_B * V - 1) // (TILE_B * V)
    blk = k * k * C * V
    tasks = ((nt + nq - 1) // nq) * ng * nq
    reset_chunks(chunks)
    for w in prange(chunks[0]):
        off = istack(TILE_P)
        obase = istack(TILE_P)
        acc = vstack(wb, TILE_ACC)
        wv = vstack(wb, TILE_B)
        tr = vstack(wb, MAX_LANES)
        c, k = next_chunk(chunks, w, 0)
        while c >= 0:
            lo, hi = chunk_tasks(chunks, c, tasks)
            for task in range(lo, hi):
                t0 = (task // (ng * nq)) * nq + task % nq
                g = (task // nq) % ng
                if t0 < nt:
                    conv_task(xh, wb, out, dims, t0, g, blk, off, obase, acc, wv, tr)
            c, k = next_chunk(chunks, w, k)


@njit(fastmath=True, boundscheck=False, inline="always")
def conv_task(xh, wb, out, dims, t0, g, blk, off, obase, acc, wv, tr):  # pragma: no cover - compiled
    """One task of :func:`conv_oc_blocked`: tile ``t0`` of the batch's pixels x filter group ``g``."""
    N, C, Cp, Hp, Wp, F, k, stride, Ho, Wo = dims
    V = vlanes(wb)
    Q = Ho * Wo
    NQ = N * Q
    q0 = t0 * TILE_P
    n = q0 // Q
    q = q0 - n * Q
    oh = q // Wo
    ow = q - oh * Wo
    for p in range(TILE_P):
        off[p] = ((n * Hp + oh * stride) * Wp + ow * stride) * Cp
        obase[p] = n * F * Q + oh * Wo + ow
        if q0 + p + 1 < NQ:  # the next pixel (pixels past the batch repeat the last one)
            ow += 1
            if ow == Wo:
                ow = 0
                oh += 1
                if oh == Ho:
                    oh = 0
                    n += 1
    for a in range(TILE_ACC):
        acc[a] = vzero(wb)
    # the last group may hold one block of filters (F = 16, 48, 112, ... on AVX-512) and the last tile
    # half the pixels or fewer (7x7 at N=1: 49 = 3 x 14 + 7): no FMAs on zero weights or absent pixels
    lone = F - g * TILE_B * V <= (TILE_B - 1) * V
    half = NQ - q0 <= HALF_P
    row = Wp * Cp
    wt0 = g * TILE_B * blk
    if not lone and not half:
        accumulate_tile(xh, wb, off, row, k, C, Cp, wt0, blk, acc, wv, TILE_B, TILE_P)
    elif not lone:
        accumulate_tile(xh, wb, off, row, k, C, Cp, wt0, blk, acc, wv, TILE_B, HALF_P)
    elif not half:
        accumulate_tile(xh, wb, off, row, k, C, Cp, wt0, blk, acc, wv, 1, TILE_P)
    else:
        accumulate_tile(xh, wb, off, row, k, C, Cp, wt0, blk, acc, wv, 1, HALF_P)
    store_tile(out, acc, obase, Q, F, g * TILE_B, min(TILE_P, NQ - q0), tr)


def conv_task_count(N: int, Q: int, F: int, lanes: int) -> int:
    """How many tasks :func:`conv_oc_blocked` runs on N images of Q output pixels, F filters, V = lanes."""
    nt = -(-N * Q // TILE_P)
    nq = max(1, min(-(-Q // TILE_P), nt))
    return -(-nt // nq) * nq * -(-F // (TILE_B * lanes))
