"""The inputs of a case and their float64 reference, made once and shared by every backend of the case.

The arrays are read-only: a backend that writes its inputs gets an error (or,
if it forces them writable, is caught by the checksum taken when they were made).
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

import kernels

from .cases import Case


@dataclass
class CaseData:
    """Inputs, float64 reference and per-element tolerance for one case, shared by every backend."""

    x: np.ndarray
    w: np.ndarray
    reference: np.ndarray
    tolerance: np.ndarray
    checksum: tuple = ()

    def freeze(self) -> CaseData:
        """Make every array read-only (again: unpickled copies arrive writable); return self."""
        for arr in (self.x, self.w, self.reference, self.tolerance):
            arr.setflags(write=False)
        return self

    def changed_inputs(self) -> list[str]:
        """Names of the inputs ("x", "w") whose contents differ from when the case was made."""
        return [name for name, was, now in zip(("x", "w"), self.checksum, input_checksum(self.x, self.w))
                if was != now]


def input_checksum(x: np.ndarray, w: np.ndarray) -> tuple[int, int]:
    """CRC32 of each input's bytes (cheap next to a convolution)."""
    return tuple(zlib.crc32(np.ascontiguousarray(a).view(np.uint8).reshape(-1)) for a in (x, w))


def make_case_data(case: Case, seed: int = 0) -> CaseData:
    """Seeded uniform(-1, 1) inputs for ``case``, their float64 reference output and tolerance; read-only."""
    spec = case.spec
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, spec.x_shape).astype(spec.dtype)
    w = rng.uniform(-1.0, 1.0, spec.w_shape).astype(spec.dtype)
    data = CaseData(x, w, kernels.reference_conv2d(x, w, spec), kernels.tolerance(x, w, spec), input_checksum(x, w))
    return data.freeze()


def case_data_or_problem(case: Case) -> tuple[CaseData | None, str | None]:
    """(inputs and reference, None) for a valid case; (None, "invalid case: ...") for an impossible one."""
    try:
        return make_case_data(case), None
    except (TypeError, ValueError) as exc:
        return None, f"invalid case: {exc}"
