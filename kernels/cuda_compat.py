"""Import ``numba.cuda`` safely across NumPy versions.

numba-cuda up to at least 0.30.4 registers an overload for ``np.row_stack`` when
``numba.cuda`` is first imported; NumPy 2.5 removed that alias, so on such an
install (seen on an H100 box: numba-cuda 0.30.4, NumPy 2.5.2) ``from numba import
cuda`` raises ``AttributeError`` and no CUDA kernel can run. ``import_cuda`` puts
the alias back (it was always ``np.vstack``) before importing, and is the one way
``kernels`` and ``harness`` import ``numba.cuda``.
"""
from __future__ import annotations

import numpy as np


def import_cuda():
    """Return the ``numba.cuda`` module, restoring ``np.row_stack`` first where NumPy dropped it."""
    if not hasattr(np, "row_stack"):
        np.row_stack = np.vstack
    from numba import cuda

    return cuda
