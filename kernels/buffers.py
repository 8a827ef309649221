"""Buffers placed on purpose: where an array starts within a 4 KiB page, chosen instead of left to malloc.

Streaming kernels slow down when their input, weight and output streams sit at the same offset
within a page (loads and stores then alias in the CPU's 4 KiB store-forwarding check), and where
malloc puts a buffer depends on the process's history. Measured here: numba-cpu's 1x1 GEMM on
Inception 3a's 5x5 reduce (N=8) ran at 266 us per call in some processes and 329 us in others,
for the same code and data. Placing each buffer at a fixed, distinct offset makes every process
see the same layout, so a kernel runs at one speed from run to run.
"""
from __future__ import annotations

import numpy as np

PAGE_BYTES = 4096
#: Offsets (bytes into a page) for up to four streams of one kernel: 64-byte aligned, all different.
STREAM_OFFSETS = (0, 1088, 2176, 3264)


def aligned_empty(shape, dtype, offset: int = 0) -> np.ndarray:
    """An uninitialised C-contiguous array whose data starts ``offset`` bytes (mod 4096) into a page."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(nbytes + 2 * PAGE_BYTES, dtype=np.uint8)
    start = (-raw.ctypes.data) % PAGE_BYTES + offset % PAGE_BYTES
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def placed_copy(array: np.ndarray, offset: int = 0) -> np.ndarray:
    """``array`` as a C-contiguous copy starting ``offset`` bytes into a page."""
    out = aligned_empty(array.shape, array.dtype, offset)
    np.copyto(out, array)
    return out
