"""The numba-cuda family: ``numba-cuda`` (:mod:`.conv`), its ``@cuda.jit`` kernels (:mod:`.cuda_kernels`), the
choice of block tile and split-K per layer (:mod:`.tiles`), launches marshalled once (:mod:`.launch`) and the
imports that keep numba.cuda working on new NumPy and fast under the simulator (:mod:`.compat`).

Importing the package registers the backend; numba.cuda is imported on first use.
"""
from __future__ import annotations

from . import conv  # noqa: F401  (registers numba-cuda)
