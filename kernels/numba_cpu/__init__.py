"""The numba-cpu family: Numba ``@njit(parallel=True)`` kernels of their own, no BLAS call inside.

* :mod:`.conv` - ``numba-cpu`` (blocked direct convolution, 1x1 as a register-blocked GEMM) and the
  ``numba-cpu-direct`` variant; :func:`isa_info` says what vector width they compile for;
* :mod:`.fused` - ``numba-cpu-fused``, the chain backend doing a 1x1 reduce and the kxk conv in one pass;
* what they share: :mod:`.isa` (the compile target's vector width), :mod:`.simd` (vector types and
  intrinsics), :mod:`.layout` (padded channels-last inputs, blocked weights), and the compiled loops
  :mod:`.blocked`, :mod:`.gemm`, :mod:`.fused_simd`, :mod:`.loops`.

Importing the package registers the backends; numba itself is imported on first use, so that
``import kernels`` stays cheap.
"""
from __future__ import annotations

from . import conv, fused  # noqa: F401  (register numba-cpu, numba-cpu-direct and numba-cpu-fused)
from .conv import isa_info

__all__ = ["isa_info"]
