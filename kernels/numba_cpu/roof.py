"""The machine's physical limits as Numba loops: an FMA loop that never touches memory, a clock probe, and
STREAM-like bandwidth loops. Pure computation; ``harness.peak`` times them.

* :func:`fma_chains` runs ``FMA_CHAINS`` independent chains ``acc = acc * x + y`` on full vectors of the
  compile target's width (:mod:`kernels.numba_cpu.simd`: 16 float32 lanes on AVX-512, 8 on AVX2). Register
  budget: 12 accumulators + ``x`` + ``y`` = 14 vector registers, inside AVX2's 16 and AVX-512's 32. Twelve
  chains hide the FMA latency (4 cycles on Zen 4/5 and Intel, 5 on Zen 2/3) behind the two FMA pipes of
  every one of those cores (2 pipes x 5 cycles = 10 chains needed at most), so the loop runs at the FMA
  throughput: ``lanes x 2 FLOP x 2 pipes`` per cycle and core. It computes a value that converges (to
  ``y / (1 - x)``): no overflow, no denormals, no work LLVM may drop.
  It releases the GIL: ``harness.peak`` runs one per Python thread, so no parallel-region launch (milliseconds
  on a busy VM) lands in a round.
* :func:`clock_chain` is a chain of dependent 64-bit shifts and xors (xorshift), each one cycle of latency
  on every x86 core, ``CLOCK_OPS_PER_ITERATION`` per iteration: its speed is the core's real clock (the
  OS often reports only the base clock in a VM).
* :func:`fma_latency_chain` is one chain of dependent vector FMAs, ``FMA_LATENCY_OPS`` per iteration: at the
  lowest FMA latency of any x86 core (``FMA_LATENCY_CYCLES`` = 4: Intel since Skylake, Zen 4/5) its speed is
  the clock; on a core with a longer latency (5 on Zen 2/3, Haswell) it reads low. Either probe can only read
  low (a stall adds cycles, nothing removes them), so ``harness.peak`` takes the higher of the two.
* :func:`stream_triad`, :func:`stream_copy`, :func:`stream_read`: ``a = b + s * c``, ``a = b`` and a sum
  of ``b``, over every Numba thread (STREAM's kernels; bytes counted as STREAM does, no write-allocate).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange, uint64

from .simd import vfma, vlanes, vsplat, vstore

#: Independent accumulator vectors in :func:`fma_chains` (see the module docstring for the budget).
FMA_CHAINS = 12
#: Dependent one-cycle operations per iteration of :func:`clock_chain`.
CLOCK_OPS_PER_ITERATION = 6
#: Dependent vector FMAs per iteration of :func:`fma_latency_chain`.
FMA_LATENCY_OPS = 8
#: Cycles of one FMA's latency assumed by :func:`fma_latency_chain`: the lowest of any x86 core (a real
#: latency above it makes the probe read a lower clock, never a higher one).
FMA_LATENCY_CYCLES = 4
#: Bytes STREAM counts per element of each bandwidth loop (8-byte float64 elements).
STREAM_BYTES_PER_ELEMENT = {"read": 8, "copy": 16, "triad": 24}


@njit(nogil=True, cache=True)
def fma_chains(out, iterations):
    """``iterations`` x ``FMA_CHAINS`` vector FMAs in registers; the accumulators end in ``out``
    (``FMA_CHAINS * lanes`` elements of the dtype to measure)."""
    x = vsplat(out, 0.9999)
    y = vsplat(out, 0.0001)
    # Start values away from the fixed point y / (1 - x) = 1.0: a chain that starts there is a constant LLVM
    # folds away (it once dropped one of the twelve chains and the roof read 12/11 high).
    a0 = vsplat(out, 0.05); a1 = vsplat(out, 0.15); a2 = vsplat(out, 0.25); a3 = vsplat(out, 0.35)  # noqa: E702
    a4 = vsplat(out, 0.45); a5 = vsplat(out, 0.55); a6 = vsplat(out, 0.65); a7 = vsplat(out, 0.75)  # noqa: E702
    a8 = vsplat(out, 0.85); a9 = vsplat(out, 0.95); a10 = vsplat(out, 1.05); a11 = vsplat(out, 1.15)  # noqa: E702
    for _ in range(iterations):
        a0 = vfma(a0, x, y); a1 = vfma(a1, x, y); a2 = vfma(a2, x, y); a3 = vfma(a3, x, y)  # noqa: E702
        a4 = vfma(a4, x, y); a5 = vfma(a5, x, y); a6 = vfma(a6, x, y); a7 = vfma(a7, x, y)  # noqa: E702
        a8 = vfma(a8, x, y); a9 = vfma(a9, x, y); a10 = vfma(a10, x, y); a11 = vfma(a11, x, y)  # noqa: E702
    n = vlanes(out)
    vstore(out, 0, a0); vstore(out, n, a1); vstore(out, 2 * n, a2); vstore(out, 3 * n, a3)  # noqa: E702
    vstore(out, 4 * n, a4); vstore(out, 5 * n, a5); vstore(out, 6 * n, a6); vstore(out, 7 * n, a7)  # noqa: E702
    vstore(out, 8 * n, a8); vstore(out, 9 * n, a9); vstore(out, 10 * n, a10); vstore(out, 11 * n, a11)  # noqa: E702


def fma_buffer(dtype, threads: int = 1) -> np.ndarray:
    """One ``out`` row of :func:`fma_chains` per thread, for ``threads`` threads of ``dtype``."""
    from .isa import lanes_for

    dtype = np.dtype(dtype)
    return np.zeros((threads, FMA_CHAINS * lanes_for(dtype)), dtype)


def fma_flops(dtype, iterations: int, threads: int = 1) -> int:
    """FLOPs of ``threads`` :func:`fma_chains` calls of ``iterations`` (an FMA counts 2)."""
    from .isa import lanes_for

    return 2 * FMA_CHAINS * lanes_for(np.dtype(dtype)) * iterations * threads


@njit(nogil=True, cache=True)
def clock_chain(iterations, seed):
    """``iterations`` xorshift steps of ``seed`` (a uint64): ``CLOCK_OPS_PER_ITERATION`` dependent operations each."""
    x = seed
    for _ in range(iterations):
        x ^= x << uint64(13)
        x ^= x >> uint64(7)
        x ^= x << uint64(17)
    return x


@njit(nogil=True, cache=True)
def fma_latency_chain(out, iterations):
    """``iterations`` x ``FMA_LATENCY_OPS`` dependent vector FMAs on one accumulator, stored in ``out`` (one
    vector of the dtype)."""
    x = vsplat(out, 0.9999)
    y = vsplat(out, 0.0001)
    a = vsplat(out, 0.5)
    for _ in range(iterations):
        a = vfma(a, x, y); a = vfma(a, x, y); a = vfma(a, x, y); a = vfma(a, x, y)  # noqa: E702
        a = vfma(a, x, y); a = vfma(a, x, y); a = vfma(a, x, y); a = vfma(a, x, y)  # noqa: E702
    vstore(out, 0, a)


@njit(parallel=True, nogil=True, cache=True)
def stream_triad(a, b, c, s):
    """``a = b + s * c`` over every thread."""
    for i in prange(a.size):
        a[i] = b[i] + s * c[i]


@njit(parallel=True, nogil=True, cache=True)
def stream_copy(a, b):
    """``a = b`` over every thread."""
    for i in prange(a.size):
        a[i] = b[i]


@njit(parallel=True, nogil=True, cache=True, fastmath=True)
def stream_read(b):
    """The sum of ``b`` over every thread (fast-math lets LLVM keep several vector partial sums)."""
    total = 0.0
    for i in prange(b.size):
        total += b[i]
    return total
