"""The inputs of a case and their float64 reference, made once and shared by every backend of the case.

A convolution case has ``x`` and ``w``; a chain case (:class:`harness.fused.ChainCase`)
has ``x``, ``w`` (the reduce's weights) and ``w_conv``. The arrays are read-only:
a backend that writes its inputs gets an error (or, if it forces them writable, is
caught by the checksum taken when they were made).
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

import kernels

#: Names of a case's inputs, in the order a backend's prepare takes them.
INPUT_NAMES = ("x", "w", "w_conv")


@dataclass
class CaseData:
    """Inputs, float64 reference and per-element tolerance for one case, shared by every backend."""

    x: np.ndarray
    w: np.ndarray
    reference: np.ndarray
    tolerance: np.ndarray
    checksum: tuple = ()
    w_conv: np.ndarray | None = None

    @property
    def inputs(self) -> tuple[np.ndarray, ...]:
        """The arrays a backend's prepare takes: (x, w), or (x, w_reduce, w_conv) for a chain."""
        return (self.x, self.w) if self.w_conv is None else (self.x, self.w, self.w_conv)

    @property
    def nbytes(self) -> int:
        """Bytes held by the inputs, the reference and the tolerance."""
        return sum(a.nbytes for a in (*self.inputs, self.reference, self.tolerance))

    def freeze(self) -> CaseData:
        """Make every array read-only (again: unpickled copies arrive writable); return self."""
        for arr in (*self.inputs, self.reference, self.tolerance):
            arr.setflags(write=False)
        return self

    def changed_inputs(self) -> list[str]:
        """Names of the inputs ("x", "w", "w_conv") whose contents differ from when the case was made."""
        return [name for name, was, now in zip(INPUT_NAMES, self.checksum, input_checksum(*self.inputs))
                if was != now]


def input_checksum(*arrays: np.ndarray) -> tuple[int, ...]:
    """CRC32 of each input's bytes (cheap next to a convolution)."""
    return tuple(zlib.crc32(np.ascontiguousarray(a).view(np.uint8).reshape(-1)) for a in arrays)


def make_case_data(case, seed: int = 0) -> CaseData:
    """Seeded uniform(-1, 1) inputs for ``case`` (a Case or a ChainCase), their float64 reference output and
    tolerance; read-only."""
    spec = case.spec
    rng = np.random.default_rng(seed)
    if case.kind == "chain":
        x = rng.uniform(-1, 1, spec.reduce.x_shape).astype(spec.reduce.dtype)
        w1 = rng.uniform(-1, 1, spec.reduce.w_shape).astype(spec.reduce.dtype)
        w2 = rng.uniform(-1, 1, spec.conv.w_shape).astype(spec.conv.dtype)
        data = CaseData(x, w1, kernels.reference_chain(x, w1, w2, spec), kernels.chain_tolerance(x, w1, w2, spec),
                        input_checksum(x, w1, w2), w_conv=w2)
        return data.freeze()
    x = rng.uniform(-1.0, 1.0, spec.x_shape).astype(spec.dtype)
    w = rng.uniform(-1.0, 1.0, spec.w_shape).astype(spec.dtype)
    data = CaseData(x, w, kernels.reference_conv2d(x, w, spec), kernels.tolerance(x, w, spec), input_checksum(x, w))
    return data.freeze()


def case_data_or_problem(case) -> tuple[CaseData | None, str | None]:
    """(inputs and reference, None) for a valid case; (None, "invalid case: ...") for an impossible one."""
    try:
        return make_case_data(case), None
    except (TypeError, ValueError) as exc:
        return None, f"invalid case: {exc}"
