"""Compiled loops of ``numba-cpu-fused`` (imported lazily: importing this module imports numba).

One pass computes ``conv(reduce_1x1(x))`` without writing the intermediate tensor:
each parallel task owns a band of output rows of one image and keeps the k reduced
rows the current output row needs in a small ring buffer (its own slice of scratch
made in prepare). No BLAS call anywhere: every multiply-add is in these loops.
"""
from __future__ import annotations

from numba import njit, prange

#: Stamp of a ring slot that holds no reduced row yet (no real row index is this small).
EMPTY = -(1 << 40)


@njit(parallel=True, fastmath=True, cache=True, boundscheck=False)
def fused_reduce_conv(xc, w1, w2t, out, ring, win, held, s1, p1, s2, p2, band):  # pragma: no cover - compiled
    """Fused 1x1 reduce + kxk conv, channels last, in bands of ``band`` output rows per task.

    xc: (N, H, W*C) input, channels last, unpadded; w1: (CR, C) reduce weights;
    w2t: (F, k*k*CR) conv weights ordered (kernel column j, kernel row i, channel);
    out: (N, F, Ho, Wo). Per task (index ``task`` of the scratch): ring (k, W1, CR) holds
    reduced rows, slot ``r % k`` for reduced row r, and held (k,) which row each slot
    holds; win (Wp*k*CR,) is the current output row's window rows interleaved as
    (padded column, kernel row, channel), its 2*p2 padding columns zero from prepare, so
    the whole kxk window of one output pixel is one contiguous run of k*k*CR values.
    Reduced rows outside the reduced tensor (the conv's zero padding) are zero rows.
    Moving down one output row computes only the ``s2`` new reduced rows; a band's
    first row recomputes the k - s2 rows it shares with the band above.
    """
    N, H = xc.shape[0], xc.shape[1]
    Ho = out.shape[2]
    k = ring.shape[1]
    W1, CR = ring.shape[2], ring.shape[3]
    H1 = (H + 2 * p1 - 1) // s1 + 1
    n_bands = (Ho + band - 1) // band
    for task in prange(N * n_bands):
        n = task // n_bands
        oh0 = (task % n_bands) * band
        oh1 = min(oh0 + band, Ho)
        slots, rows, stamp = ring[task], win[task], held[task]
        for i in range(k):
            stamp[i] = EMPTY
        for oh in range(oh0, oh1):
            top = oh * s2 - p2
            for i in range(k):
                r = top + i
                slot = r % k
                if stamp[slot] != r:
                    stamp[slot] = r
                    reduce_row(xc, w1, slots[slot], n, r, H1, s1, p1)
            for i in range(k):
                src = slots[(top + i) % k]
                for q in range(W1):
                    base = ((q + p2) * k + i) * CR
                    for c in range(CR):
                        rows[base + c] = src[q, c]
            conv_row(rows, w2t, out, n, oh, s2 * k * CR)


@njit(fastmath=True, boundscheck=False, inline="always")
def reduce_row(xc, w1, dst, n, r, H1, s1, p1):  # pragma: no cover - compiled
    """Reduced row ``r`` of image ``n`` into dst (W1, CR): 4 channels x 3 pixels per register tile.

    A row outside [0, H1) (conv padding) or whose source row is reduce padding is zeros,
    and so is every pixel whose source column is reduce padding.
    """
    H, C = xc.shape[1], w1.shape[1]
    W = xc.shape[2] // C
    W1, CR = dst.shape[0], dst.shape[1]
    zero = w1[0, 0] - w1[0, 0]  # 0 in the arrays' dtype (a literal 0.0 would be float64)
    h = r * s1 - p1
    q_lo = min(W1, (p1 + s1 - 1) // s1)
    q_hi = max(q_lo, min(W1, (W - 1 + p1) // s1 + 1))
    if r < 0 or r >= H1 or h < 0 or h >= H:
        q_lo = q_hi = W1
    for q in range(W1):
        if q < q_lo or q >= q_hi:
            for c in range(CR):
                dst[q, c] = zero
    if q_lo >= q_hi:
        return
    row = xc[n, h]
    for q0 in range(q_lo, q_hi, 3):
        q1, q2 = min(q0 + 1, q_hi - 1), min(q0 + 2, q_hi - 1)
        x0 = row[(q0 * s1 - p1) * C : (q0 * s1 - p1) * C + C]
        x1 = row[(q1 * s1 - p1) * C : (q1 * s1 - p1) * C + C]
        x2 = row[(q2 * s1 - p1) * C : (q2 * s1 - p1) * C + C]
        for c0 in range(0, CR, 4):
            a = tile_4x3(x0, x1, x2, w1[c0], w1[min(c0 + 1, CR - 1)], w1[min(c0 + 2, CR - 1)],
                         w1[min(c0 + 3, CR - 1)], zero)
            for df in range(min(4, CR - c0)):
                dst[q0, c0 + df] = a[3 * df]
                if q0 + 1 < q_hi:
                    dst[q0 + 1, c0 + df] = a[3 * df + 1]
                if q0 + 2 < q_hi:
                    dst[q0 + 2, c0 + df] = a[3 * df + 2]


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
