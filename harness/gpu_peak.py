"""The GPU's roof where one is present: FMA GFLOP/s per dtype (:mod:`kernels.numba_cuda.roof`) and
device-to-device copy GB/s (the better of the driver's copy and a copy kernel, each recorded), each the best of
CUDA-event-timed rounds with its spread, plus the SM clock the driver reports before and after. None without a
GPU (and never under the CUDA simulator: nothing is timed there). ``harness.roof`` judges ``cuda`` rows against
it as it judges CPU rows against the CPU's roof.
"""
from __future__ import annotations

import numpy as np

from .metadata import gpu_info
from .rates import best_and_spread

#: Blocks per SM and threads per block of the FMA launch: enough warps to hide the FMA latency.
BLOCKS_PER_SM, BLOCK = 8, 256
#: Rounds per figure and bytes of each copy buffer.
ROUNDS, COPY_BYTES = 20, 256 * 2**20


def gpu_present() -> bool:
    """True when a real CUDA GPU is usable here (not the simulator)."""
    return gpu_info() is not None


def sm_clock_mhz(device) -> float | None:
    """The SM clock the driver reports now, or None where it does not say."""
    try:
        return float(device.CLOCK_RATE) / 1000
    except Exception:
        return None


def event_rounds(launch, rounds: int = ROUNDS) -> np.ndarray:
    """Seconds of ``rounds`` calls of ``launch``, each timed with a pair of CUDA events after one warm call."""
    from kernels.numba_cuda.compat import import_cuda  # lazy: numba.cuda is slow to import and may fail

    cuda = import_cuda()
    launch()
    cuda.synchronize()
    times = []
    for _ in range(rounds):
        start, end = cuda.event(timing=True), cuda.event(timing=True)
        start.record()
        launch()
        end.record()
        end.synchronize()
        times.append(cuda.event_elapsed_time(start, end) / 1e3)
    return np.asarray(times)


def measure_gpu_roof() -> dict | None:
    """{fma_gflops, fma_spread, copy_gbytes_per_s, copy_spread, copy_method, copy_detail (method: [GB/s,
    spread]), sm_clock_mhz_before/after, sms} or None."""
    if not gpu_present():
        return None
    from kernels.numba_cuda.compat import import_cuda  # lazy: numba.cuda is slow to import and may fail
    from kernels.numba_cuda.roof import copy_kernel, fma_kernel_for, gpu_fma_flops

    cuda = import_cuda()
    device = cuda.get_current_device()
    sms = int(device.MULTIPROCESSOR_COUNT)
    blocks = sms * BLOCKS_PER_SM
    roof = dict(sms=sms, sm_clock_mhz_before=sm_clock_mhz(device), fma_gflops={}, fma_spread={})
    for dtype in ("float32", "float64"):
        out = cuda.device_array(blocks * BLOCK, dtype=dtype)
        kernel = fma_kernel_for(dtype)
        iterations = 256  # x GPU_FMA_STEPS x GPU_FMA_CHAINS FMAs a thread: ~0.3 ms a launch on an H200
        times = event_rounds(lambda: kernel[blocks, BLOCK](out, iterations))
        roof["fma_gflops"][dtype], roof["fma_spread"][dtype] = \
            best_and_spread(gpu_fma_flops(iterations, blocks * BLOCK) / times / 1e9)
    src = cuda.to_device(np.ones(COPY_BYTES // 4, np.float32))
    dst = cuda.device_array_like(src)
    copies = {"driver": lambda: dst.copy_to_device(src), "kernel": lambda: copy_kernel[blocks, BLOCK](src, dst)}
    roof["copy_detail"] = {name: best_and_spread(2 * COPY_BYTES / event_rounds(copy) / 1e9)
                           for name, copy in copies.items()}
    roof["copy_method"] = max(roof["copy_detail"], key=lambda name: roof["copy_detail"][name][0])
    roof["copy_gbytes_per_s"], roof["copy_spread"] = roof["copy_detail"][roof["copy_method"]]
    roof["sm_clock_mhz_after"] = sm_clock_mhz(device)
    return roof
