"""``@cuda.jit`` kernels of the ``numba-cuda`` backends (imported lazily: importing this imports numba.cuda).

Kernels are built per dtype by small factories so that shared-memory arrays and
accumulators carry the right element type (float32 stays float32 on the GPU).
Tile sizes shrink under the CUDA simulator, where every CUDA thread is a
Python thread.
"""
from __future__ import annotations

import math

from numba import float32, float64

from .compat import import_cuda

cuda = import_cuda()
from numba.cuda import config  # noqa: E402

SIMULATOR = bool(config.ENABLE_CUDASIM)
#: Implicit-GEMM block tile: BM output channels x BN output pixels, BK reduction steps per stage.
BM, BN, BK = (8, 8, 4) if SIMULATOR else (64, 64, 16)
#: Register tile of one thread: TM channels x TN pixels (strided by the thread grid).
TM, TN = (2, 2) if SIMULATOR else (4, 4)
THREADS_X, THREADS_Y = BN // TN, BM // TM
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


def _make_implicit_gemm(nb_dtype):
    @cuda.jit
    def conv_igemm(xp, wt, out, k, stride):
        """out[n] (F x Ho*Wo) = wt.T (F x C*k*k) @ patches(xp[n]) without materialising the patches.

        ``wt`` is the weight matrix transposed, (C*k*k, F), so weight tiles load coalesced.

        A block computes BM x BN outputs; per stage it stages a BM x BK weight tile and a
        BK x BN input-patch tile (gathered from the zero-padded input on the fly) in shared
        memory, then each thread accumulates a TM x TN register tile. Edge tiles are zero-filled,
        and every thread reaches every barrier (no early return).
        """
        s_w = cuda.shared.array((BK, BM), nb_dtype)
        s_x = cuda.shared.array((BK, BN), nb_dtype)
        acc = cuda.local.array((TM, TN), nb_dtype)
        a_reg = cuda.local.array(TM, nb_dtype)
        b_reg = cuda.local.array(TN, nb_dtype)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        tid = ty * THREADS_X + tx
        n = cuda.blockIdx.z
        f_base = cuda.blockIdx.y * BM
        p_base = cuda.blockIdx.x * BN
        Kdim, F = wt.shape[0], wt.shape[1]
        Ho, Wo = out.shape[2], out.shape[3]
        P = Ho * Wo
        kk_size = k * k
        for i in range(TM):
            for j in range(TN):
                acc[i, j] = nb_dtype(0)
        for k0 in range(0, Kdim, BK):
            for e in range(tid, BM * BK, THREADS_X * THREADS_Y):
                r, m = e // BM, e % BM
                f, kd = f_base + m, k0 + r
                s_w[r, m] = wt[kd, f] if f < F and kd < Kdim else nb_dtype(0)
            for e in range(tid, BK * BN, THREADS_X * THREADS_Y):
                r, q = e // BN, e % BN
                kd, p = k0 + r, p_base + q
                value = nb_dtype(0)
                if kd < Kdim and p < P:
                    c, tap = kd // kk_size, kd % kk_size
                    oh, ow = p // Wo, p % Wo
                    value = xp[n, c, oh * stride + tap // k, ow * stride + tap % k]
                s_x[r, q] = value
            cuda.syncthreads()
            for r in range(BK):
                for i in range(TM):
                    a_reg[i] = s_w[r, ty + i * THREADS_Y]
                for j in range(TN):
                    b_reg[j] = s_x[r, tx + j * THREADS_X]
                for i in range(TM):
                    for j in range(TN):
                        acc[i, j] += a_reg[i] * b_reg[j]
            cuda.syncthreads()
        for i in range(TM):
            f = f_base + ty + i * THREADS_Y
            for j in range(TN):
                p = p_base + tx + j * THREADS_X
                if f < F and p < P:
                    out[n, f, p // Wo, p % Wo] = acc[i, j]

    return conv_igemm


def kernels_for(dtype: str):
    """The (direct, implicit GEMM) kernel pair for ``dtype`` ("float32" or "float64"), built once."""
    if dtype not in _CACHE:
        nb = _NB_TYPES[dtype]
        _CACHE[dtype] = (_make_direct(nb), _make_implicit_gemm(nb))
    return _CACHE[dtype]


def direct_launch(total_outputs: int) -> tuple[int, int]:
    """(blocks, threads) for the direct kernel: one thread per output, small blocks in the simulator."""
    threads = 32 if SIMULATOR else 256
    return max(1, min(math.ceil(total_outputs / threads), 1 << 20)), threads


def igemm_launch(N: int, F: int, P: int) -> tuple[tuple[int, int, int], tuple[int, int]]:
    """(grid, block) of the implicit GEMM: pixel tiles on x, filter tiles on y, batch on z."""
    return (math.ceil(P / BN), math.ceil(F / BM), N), (THREADS_X, THREADS_Y)
