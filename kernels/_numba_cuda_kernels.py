"""``@cuda.jit`` kernels of the ``numba-cuda`` backend (imported lazily: importing this imports numba.cuda).

Kernels are built per dtype by small factories so that shared-memory arrays and
accumulators carry the right element type (float32 stays float32 on the GPU).
"""
from __future__ import annotations

import math

from numba import cuda, float32, float64
from numba.cuda import config

#: Edge of the square shared-memory tile of the pointwise GEMM kernel (shrunk in the simulator,
#: where every CUDA thread is a Python thread).
TILE = 8 if config.ENABLE_CUDASIM else 16
_NB_TYPES = {"float32": float32, "float64": float64}
_CACHE: dict = {}


def _make_direct(nb_dtype):
    @cuda.jit
    def conv_direct(xp, w, out, stride):
        """One thread per output element (grid-stride loop); xp is zero-padded (N, C, Hp, Wp)."""
        N, F, Ho, Wo = out.shape
        C, k = w.shape[1], w.shape[2]
        total = N * F * Ho * Wo
        start = cuda.grid(1)
        step = cuda.gridsize(1)
        for idx in range(start, total, step):
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


def _make_pointwise(nb_dtype):
    @cuda.jit
    def conv1x1_tiled(x, w, out):
        """Tiled GEMM out[n] = w (F x C) @ x[n] (C x P) with TILE x TILE shared-memory tiles."""
        sw = cuda.shared.array((TILE, TILE), nb_dtype)
        sx = cuda.shared.array((TILE, TILE), nb_dtype)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        p = cuda.blockIdx.x * TILE + tx
        f = cuda.blockIdx.y * TILE + ty
        n = cuda.blockIdx.z
        C = x.shape[1]
        P = x.shape[2]
        F = w.shape[0]
        acc = nb_dtype(0)
        for c0 in range(0, C, TILE):
            # zero-padded edge tiles: every thread loads (or zeroes) and reaches both barriers
            if f < F and c0 + tx < C:
                sw[ty, tx] = w[f, c0 + tx]
            else:
                sw[ty, tx] = 0
            if c0 + ty < C and p < P:
                sx[ty, tx] = x[n, c0 + ty, p]
            else:
                sx[ty, tx] = 0
            cuda.syncthreads()
            for kk in range(TILE):
                acc += sw[ty, kk] * sx[kk, tx]
            cuda.syncthreads()
        if f < F and p < P:
            out[n, f, p] = acc

    return conv1x1_tiled


def kernels_for(dtype: str):
    """The (direct, pointwise) kernel pair for ``dtype`` ("float32" or "float64"), built once."""
    if dtype not in _CACHE:
        nb = _NB_TYPES[dtype]
        _CACHE[dtype] = (_make_direct(nb), _make_pointwise(nb))
    return _CACHE[dtype]


def direct_launch(total_outputs: int, simulator: bool) -> tuple[int, int]:
    """(blocks, threads) for the direct kernel: one thread per output, small blocks in the simulator."""
    threads = 32 if simulator else 256
    blocks = max(1, min(math.ceil(total_outputs / threads), 1 << 20))
    return blocks, threads


def pointwise_launch(N: int, F: int, P: int) -> tuple[tuple[int, int, int], tuple[int, int]]:
    """(grid, block) for the tiled pointwise kernel: pixels on x, filters on y, batch on z."""
    return (math.ceil(P / TILE), math.ceil(F / TILE), N), (TILE, TILE)
