"""Import ``numba.cuda`` safely across NumPy versions.

numba-cuda up to at least 0.30.4 registers an overload for ``np.row_stack`` when
``numba.cuda`` is first imported; NumPy 2.5 removed that alias, so on such an
install (seen on an H100 box: numba-cuda 0.30.4, NumPy 2.5.2) ``from numba import
cuda`` raises ``AttributeError`` and no CUDA kernel can run. ``import_cuda`` puts
the alias back (it was always ``np.vstack``) before importing, and is the one way
``kernels`` and ``harness`` import ``numba.cuda``.

The CUDA simulator runs every CUDA thread of a block as a Python thread while its
scheduler busy-polls them holding the GIL, so each simulated thread gets the GIL
once per switch interval (5 ms by default) and a tiled kernel with barriers crawls.
``quick_thread_switching`` shortens that interval for the duration of a simulated
launch (measured: a 3x3 implicit-GEMM case 3.3 s -> 0.5 s).
"""
from __future__ import annotations

import sys
from contextlib import contextmanager

import numpy as np

#: GIL switch interval while a simulated kernel runs (CPython's default is 5e-3 s).
SIMULATOR_SWITCH_INTERVAL_S = 1e-5


def import_cuda():
    """Return the ``numba.cuda`` module, restoring ``np.row_stack`` first where NumPy dropped it."""
    if not hasattr(np, "row_stack"):
        np.row_stack = np.vstack
    from numba import cuda

    return cuda


@contextmanager
def quick_thread_switching(interval_s: float = SIMULATOR_SWITCH_INTERVAL_S):
    """Lower the interpreter's GIL switch interval to ``interval_s`` inside the block, then restore it.

    Meant for CUDA-simulator launches only: it changes a process-wide setting while it lasts.
    """
    if not interval_s > 0:
        raise ValueError(f"interval_s must be a positive number of seconds, got {interval_s!r}")
    previous = sys.getswitchinterval()
    sys.setswitchinterval(min(previous, interval_s))
    try:
        yield
    finally:
        sys.setswitchinterval(previous)
