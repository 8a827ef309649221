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

Quicker switching exposed a race in the simulator itself (numba-cuda 0.30.4):
``FakeCUDAShared.array`` looks up a block's static shared array and creates it when
missing in two unlocked steps, so two threads of one block can each create their own
"shared" array and read each other's never-written (``np.empty``) memory - seen as
1e19-sized errors in a sweep. ``import_cuda`` swaps in a locked lookup while the
simulator is enabled (``lock_simulated_shared_arrays``).
"""
from __future__ import annotations

import sys
import threading
from contextlib import contextmanager

import numpy as np

#: GIL switch interval while a simulated kernel runs (CPython's default is 5e-3 s).
SIMULATOR_SWITCH_INTERVAL_S = 1e-5


def import_cuda():
    """Return the ``numba.cuda`` module, restoring ``np.row_stack`` first where NumPy dropped it."""
    if not hasattr(np, "row_stack"):
        np.row_stack = np.vstack
    from numba import cuda

    if cuda.config.ENABLE_CUDASIM:
        lock_simulated_shared_arrays()
    return cuda


def lock_simulated_shared_arrays() -> None:
    """Make the CUDA simulator's static ``cuda.shared.array`` lookup atomic (idempotent).

    Every thread of a block must get the one array declared on a source line; the
    simulator's own lookup can hand two racing threads two different arrays.
    """
    from numba.cuda.simulator import kernelapi

    original = kernelapi.FakeCUDAShared.array
    if getattr(original, "locked_by_convbench", False):
        return
    lock = threading.Lock()

    def array(self, shape, dtype, alignment=None):
        if shape == 0 or alignment is not None:  # dynamic shared memory (one buffer) or refused: as before
            return original(self, shape, dtype, alignment)
        if not isinstance(dtype, np.dtype):
            dtype = kernelapi.numpy_support.as_dtype(dtype) if isinstance(dtype, kernelapi.types.Type) \
                else np.dtype(dtype)
        caller = sys._getframe(1)
        key = (caller.f_code.co_filename, caller.f_lineno)  # the declaring line, as the simulator keys it
        with lock:
            found = self._allocations.get(key)
            if found is None:
                found = self._allocations[key] = np.empty(shape, dtype)
        return found

    array.locked_by_convbench = True
    kernelapi.FakeCUDAShared.array = array


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
