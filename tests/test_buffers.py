"""kernels.buffers: arrays placed at a chosen offset within a page (numba-cpu's streams)."""
from __future__ import annotations

import numpy as np


def test_buffers_start_where_they_are_placed():
    from kernels.buffers import PAGE_BYTES, STREAM_OFFSETS, aligned_empty, placed_copy

    for offset in STREAM_OFFSETS:
        a = aligned_empty((3, 5, 7), np.float32, offset)
        assert a.ctypes.data % PAGE_BYTES == offset and a.flags.c_contiguous and a.shape == (3, 5, 7)
    x = np.arange(24, dtype=np.float64).reshape(2, 3, 4)[:, ::-1]
    y = placed_copy(x, 1088)
    assert y.ctypes.data % PAGE_BYTES == 1088 and np.array_equal(x, y) and y.flags.c_contiguous
