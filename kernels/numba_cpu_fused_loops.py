"""Compiled loops of ``numba-cpu-fused`` (imported lazily: importing this module imports numba).

One pass computes ``conv(reduce_1x1(x))`` without writing the intermediate tensor:
each parallel task owns a band of output rows of one image and keeps the k reduced
rows the current output row needs in a small ring buffer (its own slice of scratch
made in prepare), laid out so that each output pixel's kxk window is contiguous.
No BLAS call anywhere: every multiply-add is in these loops.
"""
from __future__ import annotations

from numba import njit, prange

#: Stamp of a ring slot that holds no reduced row yet (no real row index is this small).
EMPTY = -(1 << 40)


@njit(parallel=True, fastmath=True, cache=True, boundscheck=False)
def fused_reduce_conv(xc, w1, w2r, out, win, held, s1, p1, s2, p2, band):  # pragma: no cover - compiled
    """Fused 1x1 reduce + kxk conv, channels last, in bands of ``band`` output rows per task.

    xc: (N, H, W*C) input, channels last, unpadded; w1: (CR, C) reduce weights;
    w2r: (k, F, k*k*CR) conv weights, ``w2r[rot]`` ordered (kernel column j, ring slot, channel)
    for the ring rotation ``rot``; out: (N, F, Ho, Wo). Per task (index ``task`` of the
    scratch): win (Wp*k*CR,) holds k reduced rows interleaved as (padded column, ring slot,
    channel), reduced row r in slot ``r % k``, its 2*p2 padding columns zero from prepare;
    held (k,) says which reduced row each slot holds. The kxk window of output pixel ow is
    then the one contiguous run win[ow*s2*k*CR : + k*k*CR], whose slot s holds kernel row
    ``(s - top) % k`` (top = the window's first reduced row), which is what ``w2r[top % k]``
    expects. Reduced rows outside the reduced tensor (the conv's zero padding) are zero rows.
    Moving down one output row computes only the ``s2`` new reduced rows; a band's first
    row recomputes the k - s2 rows it shares with the band above.
    """
    N = xc.shape[0]
    H = xc.shape[1]
    Ho = out.shape[2]
    k = held.shape[1]
    H1 = (H + 2 * p1 - 1) // s1 + 1
    n_bands = (Ho + band - 1) // band
    for task in prange(N * n_bands):
        n = task // n_bands
        oh0 = (task % n_bands) * band
        oh1 = min(oh0 + band, Ho)
        rows, stamp = win[task], held[task]
        for i in range(k):
            stamp[i] = EMPTY
        for oh in range(oh0, oh1):
            top = oh * s2 - p2
            for i in range(k):
                r = top + i
                slot = r % k
                if stamp[slot] != r:
                    stamp[slot] = r
                    reduce_row(xc, w1, rows, slot, k, p2, n, r, H1, s1, p1)
            conv_row(rows, w2r[top % k], out, n, oh, s2 * k * w1.shape[0])


@njit(fastmath=True, boundscheck=False, inline="always")
def reduce_row(xc, w1, rows, slot, k, p2, n, r, H1, s1, p1):  # pragma: no cover - compiled
    """Reduced row ``r`` of image ``n`` into ring slot ``slot`` of rows: 4 channels x 3 pixels per tile.

    Reduced pixel q lands at rows[((q + p2) * k + slot) * CR :][:CR]. A row outside [0, H1)
    (conv padding) or whose source row is reduce padding is zeros, and so is every pixel whose
    source column is reduce padding.
    """
    H, C = xc.shape[1], w1.shape[1]
    W = xc.shape[2] // C
    CR = w1.shape[0]
    W1 = (W + 2 * p1 - 1) // s1 + 1
    zero = w1[0, 0] - w1[0, 0]  # 0 in the arrays' dtype (a literal 0.0 would be float64)
    h = r * s1 - p1
    q_lo = min(W1, (p1 + s1 - 1) // s1)
    q_hi = max(q_lo, min(W1, (W - 1 + p1) // s1 + 1))
    if r < 0 or r >= H1 or h < 0 or h >= H:
        q_lo = q_hi = W1
    for q in range(W1):
        if q < q_lo or q >= q_hi:
            base = ((q + p2) * k + slot) * CR
            for c in range(CR):
                rows[base + c] = zero
    if q_lo >= q_hi:
        return
    row = xc[n, h]
    for c0 in range(0, CR, 4):  # channel blocks outermost: 4 weight rows stay in L1 across the row
        v0, v1, v2, v3 = w1[c0], w1[min(c0 + 1, CR - 1)], w1[min(c0 + 2, CR - 1)], w1[min(c0 + 3, CR - 1)]
        for q0 in range(q_lo, q_hi, 3):
            q1, q2 = min(q0 + 1, q_hi - 1), min(q0 + 2, q_hi - 1)
            a = tile_4x3(row[(q0 * s1 - p1) * C : (q0 * s1 - p1) * C + C],
                         row[(q1 * s1 - p1) * C : (q1 * s1 - p1) * C + C],
                         row[(q2 * s1 - p1) * C : (q2 * s1 - p1) * C + C], v0, v1, v2, v3, zero)
            b0 = ((q0 + p2) * k + slot) * CR + c0
            for dq in range(min(3, q_hi - q0)):
                for dc in range(min(4, CR - c0)):
                    rows[b0 + dq * k * CR + dc] = a[3 * dc + dq]


@njit(fastmath=True, boundscheck=False, inline="always")
def conv_row(rows, w2t, out, n, oh, step):  # pragma: no cover - compiled
    """Output row ``oh`` of image ``n`` from the window rows: 4 filters x 3 pixels per register tile."""
    F, KKC = w2t.shape
    Wo = out.shape[3]
    zero = w2t[0, 0] - w2t[0, 0]
    for f0 in range(0, F, 4):
        w0, w1, w2, w3 = w2t[f0], w2t[min(f0 + 1, F - 1)], w2t[min(f0 + 2, F - 1)], w2t[min(f0 + 3, F - 1)]
        for ow0 in range(0, Wo, 3):
            ow1, ow2 = min(ow0 + 1, Wo - 1), min(ow0 + 2, Wo - 1)
            a = tile_4x3(rows[ow0 * step : ow0 * step + KKC], rows[ow1 * step : ow1 * step + KKC],
                         rows[ow2 * step : ow2 * step + KKC], w0, w1, w2, w3, zero)
            for df in range(min(4, F - f0)):
                out[n, f0 + df, oh, ow0] = a[3 * df]
                if ow0 + 1 < Wo:
                    out[n, f0 + df, oh, ow0 + 1] = a[3 * df + 1]
                if ow0 + 2 < Wo:
                    out[n, f0 + df, oh, ow0 + 2] = a[3 * df + 2]


@njit(fastmath=True, boundscheck=False, inline="always")
def tile_4x3(x0, x1, x2, w0, w1, w2, w3, zero):  # pragma: no cover - compiled
    """Twelve dot products (4 weight vectors x 3 input vectors) in register accumulators, as a tuple."""
    s00 = s01 = s02 = s10 = s11 = s12 = s20 = s21 = s22 = s30 = s31 = s32 = zero
    for c in range(x0.shape[0]):
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
    return (s00, s01, s02, s10, s11, s12, s20, s21, s22, s30, s31, s32)


@njit(parallel=True, fastmath=True, cache=True, boundscheck=False)
def fused_reduce_conv_bands(xc, w1, w2k, out, buf, s1, p1, s2, p2, band):  # pragma: no cover - compiled
    """Fused 1x1 reduce + kxk conv for large conv weights: a whole band of reduced rows, then the conv.

    xc, w1, out as in :func:`fused_reduce_conv`; w2k: (F, k, k*CR) conv weights ordered
    (kernel row i, kernel column j, channel); buf: (tasks, rows, Wp*CR) per-task scratch, its
    2*p2 padding columns zero from prepare. A task first reduces every row its band of output
    rows reads (the (k - s2) halo rows above the band again), then runs the conv over the band
    with filter blocks outermost, so 4 filters' weights stay in L1 while they sweep the band
    (the ring kernel instead sweeps all filters per output row, re-reading all weights).
    """
    N, H = xc.shape[0], xc.shape[1]
    Ho, Wo = out.shape[2], out.shape[3]
    F, k, KC = w2k.shape
    CR = KC // k
    H1 = (H + 2 * p1 - 1) // s1 + 1
    n_bands = (Ho + band - 1) // band
    step = s2 * CR
    zero = w2k[0, 0, 0] - w2k[0, 0, 0]
    for task in prange(N * n_bands):
        n = task // n_bands
        oh0 = (task % n_bands) * band
        oh1 = min(oh0 + band, Ho)
        rows = buf[task]
        top = oh0 * s2 - p2
        for i in range((oh1 - oh0 - 1) * s2 + k):
            if i % s2 < k:  # rows between windows (stride > k) are never read
                reduce_row(xc, w1, rows[i], 0, 1, p2, n, top + i, H1, s1, p1)
        for f0 in range(0, F, 4):
            g0, g1, g2, g3 = w2k[f0], w2k[min(f0 + 1, F - 1)], w2k[min(f0 + 2, F - 1)], w2k[min(f0 + 3, F - 1)]
            for oh in range(oh0, oh1):
                r0 = (oh - oh0) * s2
                for ow0 in range(0, Wo, 3):
                    ow1, ow2 = min(ow0 + 1, Wo - 1), min(ow0 + 2, Wo - 1)
                    a = tile_4x3(rows[r0, ow0 * step : ow0 * step + KC], rows[r0, ow1 * step : ow1 * step + KC],
                                 rows[r0, ow2 * step : ow2 * step + KC], g0[0], g1[0], g2[0], g3[0], zero)
                    for i in range(1, k):
                        b = tile_4x3(rows[r0 + i, ow0 * step : ow0 * step + KC],
                                     rows[r0 + i, ow1 * step : ow1 * step + KC],
                                     rows[r0 + i, ow2 * step : ow2 * step + KC], g0[i], g1[i], g2[i], g3[i], zero)
                        a = add12(a, b)
                    for df in range(min(4, F - f0)):
                        for dp in range(min(3, Wo - ow0)):
                            out[n, f0 + df, oh, ow0 + dp] = a[3 * df + dp]


@njit(fastmath=True, boundscheck=False, inline="always")
def add12(a, b):  # pragma: no cover - compiled
    """Elementwise sum of two 12-tuples."""
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3], a[4] + b[4], a[5] + b[5],
            a[6] + b[6], a[7] + b[7], a[8] + b[8], a[9] + b[9], a[10] + b[10], a[11] + b[11])
