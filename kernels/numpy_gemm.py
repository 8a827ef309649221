"""``numpy``: convolution as matrix multiplication through NumPy's BLAS.

1x1 (stride 1, no padding) is one batched GEMM ``out[n] = W (F x C) @ x[n] (C x H*W)``
with no data movement at all. Every other case is im2col: a strided window view
of the padded input is copied into a column buffer (C*k*k x Ho*Wo per image) and
multiplied by the weights reshaped to F x C*k*k.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .backend import Backend, Prepared
from .registry import register
from .spec import ConvSpec, padded_input


class PointwisePrepared(Prepared):
    """1x1 stride-1 convolution as a single batched GEMM into a preallocated output."""

    def __init__(self, x: np.ndarray, w: np.ndarray, spec: ConvSpec):
        self.x = np.ascontiguousarray(x).reshape(spec.N, spec.C, spec.H * spec.W)
        self.w = np.ascontiguousarray(w).reshape(spec.F, spec.C)
        self.out = np.empty((spec.N, spec.F, spec.H * spec.W), dtype=spec.dtype)
        self.spec = spec

    def __call__(self) -> None:
        np.matmul(self.w, self.x, out=self.out)

    def result(self) -> np.ndarray:
        return self.out.reshape(self.spec.out_shape).copy()


class Im2colPrepared(Prepared):
    """kxk (or strided/padded) convolution: strided-view im2col into a buffer, then GEMM."""

    def __init__(self, x: np.ndarray, w: np.ndarray, spec: ConvSpec):
        k, s = spec.k, spec.stride
        self.spec = spec
        self.xp = padded_input(x, spec)
        sn, sc, sh, sw = self.xp.strides
        # (N, C, k, k, Ho, Wo) view: element [n,c,i,j,oh,ow] = xp[n, c, oh*s+i, ow*s+j]
        self.windows = as_strided(
            self.xp,
            shape=(spec.N, spec.C, k, k, spec.Ho, spec.Wo),
            strides=(sn, sc, sh, sw, sh * s, sw * s),
            writeable=False,
        )
        self.cols = np.empty((spec.N, spec.C, k, k, spec.Ho, spec.Wo), dtype=spec.dtype)
        self.cols2d = self.cols.reshape(spec.N, spec.C * k * k, spec.Ho * spec.Wo)
        self.w = np.ascontiguousarray(w).reshape(spec.F, spec.C * k * k)
        self.out = np.empty((spec.N, spec.F, spec.Ho * spec.Wo), dtype=spec.dtype)

    def __call__(self) -> None:
        np.copyto(self.cols, self.windows)
        np.matmul(self.w, self.cols2d, out=self.out)

    def result(self) -> np.ndarray:
        return self.out.reshape(self.spec.out_shape).copy()


@register
class NumpyBackend(Backend):
    """NumPy + BLAS: 1x1 as one batched GEMM, kxk as im2col (strided views) + GEMM."""

    name = "numpy"
    device = "cpu"
    description = "NumPy/BLAS: 1x1 as one GEMM, kxk as im2col + GEMM"

    def prepare(self, x, w, spec):
        if spec.is_pointwise:
            return PointwisePrepared(x, w, spec)
        return Im2colPrepared(x, w, spec)
