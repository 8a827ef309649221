"""``@cuda.jit`` kernels of the ``numba-cuda`` backends (imported lazily: importing this imports numba.cuda).

Kernels are built by small factories, per dtype (shared-memory arrays and accumulators carry the right
element type: float32 stays float32 on the GPU) and, for the implicit GEMM, per :class:`~.tiles.Tile` and
split-K, whose sizes become compile-time constants (loops over a register tile unroll, its accumulators stay
in registers). Each is built once and compiled on first launch. :mod:`.tiles` decides which runs.
"""
from __future__ import annotations

import math

from numba import float32, float64, uint32, uint64

from .compat import import_cuda

cuda = import_cuda()
from numba.cuda import config  # noqa: E402

SIMULATOR = bool(config.ENABLE_CUDASIM)
_NB_TYPES = {"float32": float32, "float64": float64}
_CACHE: dict = {}


def _make_direct(nb_dtype):
    @cuda.jit
    def conv_direct(xp, w, out, stride):
        """One thread per output element (grid-stride loop); xp is zero-padded (N, C, Hp, Wp)."""
        N, F, Ho, Wo = out.shape
        C, k = w.shape[1], w.shape[2]
        total = N * F * Ho * Wo
        for idx in range(cuda.grid(1), total, cuda.gridsize(1)):
            ow = idx % Wo
            oh = (idx // Wo) % Ho
            f = (idx // (Wo * Ho)) % F
            n = idx // (Wo * Ho * F)
            acc = nb_dtype(0)
            for c in range(C):
                for i in range(k):
                    row = oh * stride + i
                    for j in range(k):
                        acc += xp[n, c, row, ow * stride + j] * w[f, c, i, j]
            out[n, f, oh, ow] = acc

    return conv_direct


def _make_implicit_gemm(nb_dtype, tile, split: bool):
    """The implicit-GEMM kernel of one :class:`~.tiles.Tile`; ``split`` sums partial K ranges with atomic adds."""
    BM, BN, BK, TM, TN = tile.bm, tile.bn, tile.bk, tile.tm, tile.tn
    TX, TY = BN // TN, BM // TM
    NT = TX * TY
    LA, LB = BK * BM // NT, BK * BN // NT  # elements of each stage one thread loads
    RA, RB = NT // BM, NT // BN  # stage rows between a thread's loads
    # a thread's rows (columns) come in runs of GM (GN) adjacent ones, so shared loads can be vector loads
    GM, GN = min(4, TM), min(4, TN)
    SA, SB = BK * BM, BK * BN  # one stage of each operand in shared memory
    SHARED_A, SHARED_B = 2 * SA, 2 * SB

    @cuda.jit(device=True)
    def load_stage(x, wt, koff, r_w, r_x, k0, k_end, F, a_row, fa, a_ok, b_row, col, b_ok):
        """This thread's share of the stage starting at reduction step ``k0``, into registers (zeros beyond
        ``k_end``, F or the last column). Indices are cast to uint64 (no wraparound code); a full stage skips
        the per-element K check."""
        full = k0 + BK <= k_end
        a_at = (k0 + a_row) * F + fa
        for s in range(LA):
            if a_ok and (full or k0 + a_row + s * RA < k_end):
                r_w[s] = wt[uint64(a_at + s * RA * F)]
            else:
                r_w[s] = nb_dtype(0)
        for s in range(LB):
            kd = k0 + b_row + s * RB
            if b_ok and (full or kd < k_end):
                r_x[s] = x[uint64(col + koff[uint64(kd)])]
            else:
                r_x[s] = nb_dtype(0)

    @cuda.jit(device=True)
    def store_stage(s_w, s_x, r_w, r_x, a_to, b_to):
        """This thread's registers of a stage into the shared buffers from slots ``a_to``, ``b_to`` on."""
        for s in range(LA):
            s_w[uint32(a_to + s * RA * BM)] = r_w[s]
        for s in range(LB):
            s_x[uint32(b_to + s * RB * BN)] = r_x[s]

    @cuda.jit
    def conv_igemm(x, wt, koff, out, clear, F, K, k_per, P, NP, Wo, stride, Wp, img):
        """out (F x N*P, batch folded into the columns) = wt.T (F x K) @ patches(x) (K x N*P), in place.

        With a split K, the blocks add their partial sums into ``out`` (zeroed beforehand) and the blocks of
        the first K range also zero ``clear`` where they add into ``out``: a second buffer of out's shape,
        ready for the next call, which adds into it (:class:`~.launch.Alternating`). No memset launch per call, then.
        Unsplit, ``clear`` is never touched.

        ``x`` is the zero-padded input, flat; ``wt`` the weights as a flat (K, F) matrix, so weight rows load
        coalesced; ``koff[kd]`` the offset of reduction step kd (channel, tap row, tap column) inside one padded
        image, so a patch element is ``x[col + koff[kd]]`` with the column's base ``col`` computed once per
        thread: no division in the loop. Block (x, y, z) computes column tile x, filter tile y over K range z.
        Stages are double-buffered in shared memory (flat, two stages each): the next stage is read into
        registers while this one is used, one barrier per stage. Shared indices are cast to uint32, which
        spares numba's negative-index wraparound on every access. Every thread reaches every barrier.
        """
        s_w = cuda.shared.array(SHARED_A, nb_dtype)
        s_x = cuda.shared.array(SHARED_B, nb_dtype)
        acc = cuda.local.array((TM, TN), nb_dtype)
        r_w = cuda.local.array(LA, nb_dtype)
        r_x = cuda.local.array(LB, nb_dtype)
        a_reg = cuda.local.array(TM, nb_dtype)
        b_reg = cuda.local.array(TN, nb_dtype)
        tid = cuda.threadIdx.x
        tx, ty = tid % TX, tid // TX
        f_base, j_base = cuda.blockIdx.y * BM, cuda.blockIdx.x * BN
        k_begin = cuda.blockIdx.z * k_per
        first_range = cuda.blockIdx.z == 0
        k_end = min(K, k_begin + k_per)
        a_col, a_row = tid % BM, tid // BM
        fa = f_base + a_col
        a_ok = fa < F
        b_col, b_row = tid % BN, tid // BN
        jb = j_base + b_col
        b_ok = jb < NP
        col = 0
        if b_ok:
            n = jb // P
            p = jb - n * P
            oh = p // Wo
            col = n * img + (oh * Wp + (p - oh * Wo)) * stride
        a_store, b_store = a_row * BM + a_col, b_row * BN + b_col  # this thread's first shared slot
        a_read, b_read = ty * GM, tx * GN  # this thread's first row (column) of a stage
        for i in range(TM):
            for j in range(TN):
                acc[i, j] = nb_dtype(0)
        stages = (k_end - k_begin + BK - 1) // BK
        load_stage(x, wt, koff, r_w, r_x, k_begin, k_end, F, a_row, fa, a_ok, b_row, col, b_ok)
        store_stage(s_w, s_x, r_w, r_x, a_store, b_store)
        cuda.syncthreads()
        for t in range(stages):
            cur = t & 1
            more = t + 1 < stages
            if more:  # the next stage, into registers, while this one is used
                load_stage(x, wt, koff, r_w, r_x, k_begin + (t + 1) * BK, k_end, F, a_row, fa, a_ok, b_row, col, b_ok)
            a_at, b_at = uint32(cur * SA + a_read), uint32(cur * SB + b_read)
            for r in range(BK):
                for i in range(TM):  # uint32 + uint32 is unsigned: no wraparound, offsets fold into the load
                    a_reg[i] = s_w[a_at + uint32(r * BM + (i // GM) * (TY * GM) + i % GM)]
                for j in range(TN):
                    b_reg[j] = s_x[b_at + uint32(r * BN + (j // GN) * (TX * GN) + j % GN)]
                for i in range(TM):
                    for j in range(TN):
                        acc[i, j] += a_reg[i] * b_reg[j]
            if more:
                store_stage(s_w, s_x, r_w, r_x, (1 - cur) * SA + a_store, (1 - cur) * SB + b_store)
            cuda.syncthreads()
        for j in range(TN):
            jo = j_base + b_read + (j // GN) * (TX * GN) + j % GN
            if jo < NP:
                n = jo // P
                base = n * F * P + (jo - n * P)
                for i in range(TM):
                    f = f_base + a_read + (i // GM) * (TY * GM) + i % GM
                    if f < F:
                        if split:
                            cuda.atomic.add(out, base + f * P, acc[i, j])
                            if first_range:
                                clear[base + f * P] = nb_dtype(0)
                        else:
                            out[base + f * P] = acc[i, j]

    return conv_igemm


def direct_kernel_for(dtype: str):
    """The direct kernel of ``dtype`` ("float32" or "float64"), built once."""
    key = ("direct", dtype)
    if key not in _CACHE:
        _CACHE[key] = _make_direct(_NB_TYPES[dtype])
    return _CACHE[key]


def igemm_kernel_for(dtype: str, tile, split: bool):
    """The implicit-GEMM kernel of ``dtype``, ``tile`` and ``split``, built once (compiled on first launch)."""
    key = ("igemm", dtype, tile, bool(split))
    if key not in _CACHE:
        _CACHE[key] = _make_implicit_gemm(_NB_TYPES[dtype], tile.check(), bool(split))
    return _CACHE[key]


def direct_launch(total_outputs: int) -> tuple[int, int]:
    """(blocks, threads) for the direct kernel: one thread per output, small blocks in the simulator."""
    threads = 32 if SIMULATOR else 256
    return max(1, min(math.ceil(total_outputs / threads), 1 << 20)), threads
