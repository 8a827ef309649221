"""The GPU's physical limits as ``@cuda.jit`` code: an FMA loop in registers and a copy kernel (imported lazily:
importing this imports numba.cuda). ``harness.gpu_peak`` times them with CUDA events, beside the driver's
device-to-device copy.

Every thread runs ``GPU_FMA_CHAINS`` independent chains ``acc = acc * x + y`` (NVVM contracts each into one
FMA instruction), enough to hide the FMA latency (4 cycles on Volta-Hopper) at 4 warps per scheduler; the
chains converge (to ``y / (1 - x)``), so there is no overflow and nothing the compiler may drop. One
value per thread is stored at the end.

Each turn of the loop takes every chain ``GPU_FMA_STEPS`` steps (an inner loop of constant length, unrolled by
the compiler). With one step a turn, the loop's own 64-bit counter instructions took as many issue slots as the
FMAs: on an H200 the kernel reached 32.9 of the 67 FP32 TFLOP/s (132 SMs x 128 lanes x 2 x 1.98 GHz).
"""
from __future__ import annotations

from numba import float32, float64

from .compat import import_cuda

cuda = import_cuda()

#: Independent accumulators per thread of :func:`fma_kernel`.
GPU_FMA_CHAINS = 8
#: Steps of every chain per turn of the loop (unrolled).
GPU_FMA_STEPS = 16
_CACHE: dict = {}


def _make_fma(nb_dtype):
    @cuda.jit
    def fma_kernel(out, iterations):
        """``iterations`` x ``GPU_FMA_STEPS`` x ``GPU_FMA_CHAINS`` FMAs per thread in registers; their sum lands in
        ``out[thread]``."""
        i = cuda.grid(1)
        x, y = nb_dtype(0.9999), nb_dtype(0.0001)
        a0, a1, a2, a3 = nb_dtype(0.0), nb_dtype(0.1), nb_dtype(0.2), nb_dtype(0.3)
        a4, a5, a6, a7 = nb_dtype(0.4), nb_dtype(0.5), nb_dtype(0.6), nb_dtype(0.7)
        for _ in range(iterations):
            for _ in range(GPU_FMA_STEPS):
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


#: Loads each thread of :func:`copy_kernel` has in flight.
GPU_COPY_LOADS = 4


@cuda.jit
def copy_kernel(src, dst):
    """``dst[:] = src`` over a grid stride, ``GPU_COPY_LOADS`` loads in flight a thread (coalesced 4-byte loads).

    On an H200 the driver's device-to-device copy moved 1.97 TB/s (read + written) where PyTorch's copy kernel
    moved ~4.3: a kernel with several loads in flight a thread is the fairer bandwidth roof."""
    i, stride = cuda.grid(1), cuda.gridsize(1)
    n = src.size
    while i + 3 * stride < n:
        a, b, c, d = src[i], src[i + stride], src[i + 2 * stride], src[i + 3 * stride]
        dst[i], dst[i + stride], dst[i + 2 * stride], dst[i + 3 * stride] = a, b, c, d
        i += 4 * stride
    while i < n:
        dst[i] = src[i]
        i += stride


def fma_kernel_for(dtype: str):
    """The FMA kernel of ``dtype`` ("float32" or "float64"), built once."""
    if dtype not in _CACHE:
        _CACHE[dtype] = _make_fma({"float32": float32, "float64": float64}[dtype])
    return _CACHE[dtype]


def gpu_fma_flops(iterations: int, threads: int) -> int:
    """FLOPs of one launch of ``threads`` threads (an FMA counts 2)."""
    return 2 * GPU_FMA_CHAINS * GPU_FMA_STEPS * iterations * threads
