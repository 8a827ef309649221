"""The GPU's physical limits as ``@cuda.jit`` code: an FMA loop in registers (imported lazily: importing this
imports numba.cuda). ``harness.gpu_peak`` times it with CUDA events, beside a device-to-device copy.

Every thread runs ``GPU_FMA_CHAINS`` independent chains ``acc = acc * x + y`` (NVVM contracts each into one
FMA instruction), enough to hide the FMA latency (4 cycles on Volta-Hopper) at 4 warps per scheduler; the
chains converge (to ``y / (1 - x)``), so there is no overflow and nothing the compiler may drop. One
value per thread is stored at the end.
"""
from __future__ import annotations

from numba import float32, float64

from .compat import import_cuda

cuda = import_cuda()

#: Independent accumulators per thread of :func:`fma_kernel`.
GPU_FMA_CHAINS = 8
_CACHE: dict = {}


def _make_fma(nb_dtype):
    @cuda.jit
    def fma_kernel(out, iterations):
        """``iterations`` x ``GPU_FMA_CHAINS`` FMAs per thread in registers; their sum lands in ``out[thread]``."""
        i = cuda.grid(1)
        x, y = nb_dtype(0.9999), nb_dtype(0.0001)
        a0, a1, a2, a3 = nb_dtype(0.0), nb_dtype(0.1), nb_dtype(0.2), nb_dtype(0.3)
        a4, a5, a6, a7 = nb_dtype(0.4), nb_dtype(0.5), nb_dtype(0.6), nb_dtype(0.7)
        for _ in range(iterations):
            a0 = a0 * x + y
            a1 = a1 * x + y
            a2 = a2 * x + y
            a3 = a3 * x + y
            a4 = a4 * x + y
            a5 = a5 * x + y
            a6 = a6 * x + y
            a7 = a7 * x + y
        if i < out.size:
            out[i] = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7

    return fma_kernel


def fma_kernel_for(dtype: str):
    """The FMA kernel of ``dtype`` ("float32" or "float64"), built once."""
    if dtype not in _CACHE:
        _CACHE[dtype] = _make_fma({"float32": float32, "float64": float64}[dtype])
    return _CACHE[dtype]


def gpu_fma_flops(iterations: int, threads: int) -> int:
    """FLOPs of one launch of ``threads`` threads (an FMA counts 2)."""
    return 2 * GPU_FMA_CHAINS * iterations * threads
