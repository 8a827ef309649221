"""Memory estimates of a case and of a point, checked against available memory before anything is allocated.

A case's data (inputs, float64 reference and per-element tolerance, plus the
reference's float64 temporaries) is estimated before it is built; a point adds
the backend's copies of the inputs, its output and its workspace (im2col for
``numpy`` and ``torch``, a padded copy of the input for the others). A point
whose estimate exceeds ``MEMORY_FRACTION`` of ``MemAvailable`` is ``skipped`` with
the estimate in its reason instead of dying of MemoryError or the OOM killer.
"""
from __future__ import annotations

import os

#: Share of the available memory an estimate may use.
MEMORY_FRACTION = 0.8
#: Backends whose workspace is an im2col matrix (N*C*k*k*Ho*Wo elements).
IM2COL_BACKENDS = ("numpy", "torch")
GIB = 2**30


def available_bytes() -> int | None:
    """``MemAvailable`` from /proc/meminfo (else free physical pages); None when unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _padded_elements(spec) -> int:
    return spec.N * spec.C * (spec.H + 2 * spec.padding) * (spec.W + 2 * spec.padding)


def case_bytes(spec) -> int:
    """Bytes to build a case's data: inputs, reference + tolerance (float64) and their float64 temporaries.

    A chain's (a ``kernels.ChainSpec``) is its two stages': an upper bound of what its reference holds."""
    if hasattr(spec, "reduce"):
        return case_bytes(spec.reduce) + case_bytes(spec.conv)
    inputs = (spec.N * spec.C * spec.H * spec.W + spec.F * spec.C * spec.k * spec.k) * spec.itemsize
    out = spec.N * spec.F * spec.Ho * spec.Wo
    temporaries = 8 * (2 * _padded_elements(spec) + 2 * spec.F * spec.C * spec.k * spec.k + out)
    return inputs + 2 * 8 * out + temporaries


def point_bytes(backend: str, spec) -> int:
    """Bytes one point adds: its copy of the case data, its output and its workspace (a chain: both stages')."""
    if hasattr(spec, "reduce"):
        return point_bytes(backend, spec.reduce) + point_bytes(backend, spec.conv)
    inputs = (spec.N * spec.C * spec.H * spec.W + spec.F * spec.C * spec.k * spec.k) * spec.itemsize
    out = spec.N * spec.F * spec.Ho * spec.Wo
    if backend in IM2COL_BACKENDS:
        workspace = spec.N * spec.C * spec.k * spec.k * spec.Ho * spec.Wo * spec.itemsize
    else:
        workspace = _padded_elements(spec) * spec.itemsize
    return inputs + 2 * 8 * out + 2 * out * spec.itemsize + workspace


def too_big(estimate_bytes: int, what: str) -> str | None:
    """The ``skipped`` reason when ``estimate_bytes`` does not fit in available memory, else None."""
    available = available_bytes()
    if available is None or estimate_bytes <= MEMORY_FRACTION * available:
        return None
    return (f"{what} needs an estimated {estimate_bytes / GIB:.3g} GiB (inputs, reference, output, workspace); "
            f"only {available / GIB:.3g} GiB of memory is available")
