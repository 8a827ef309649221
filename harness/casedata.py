"""The inputs of a case and their float64 reference, made once and shared by every backend of the case."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import kernels

from .cases import Case


@dataclass
class CaseData:
    """Inputs and float64 reference for one case, shared by every backend."""

    x: np.ndarray
    w: np.ndarray
    reference: np.ndarray
    tolerance: float


def make_case_data(case: Case, seed: int = 0) -> CaseData:
    """Seeded uniform(-1, 1) inputs for ``case`` and their float64 reference output."""
    spec = case.spec
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, spec.x_shape).astype(spec.dtype)
    w = rng.uniform(-1.0, 1.0, spec.w_shape).astype(spec.dtype)
    return CaseData(x, w, kernels.reference_conv2d(x, w, spec), kernels.tolerance(x, w, spec))


def case_data_or_problem(case: Case) -> tuple[CaseData | None, str | None]:
    """(inputs and reference, None) for a valid case; (None, "invalid case: ...") for an impossible one."""
    try:
        return make_case_data(case), None
    except (TypeError, ValueError) as exc:
        return None, f"invalid case: {exc}"
