"""``naive``: the textbook definition of a 2-D convolution in pure-Python loops.

Readable above all: seven nested loops over Python lists, one multiply-add at a
time. It is the slowest backend by orders of magnitude and exists to show what
every other backend is optimising away.
"""
from __future__ import annotations

import numpy as np

from .backend import Backend, Prepared
from .registry import register
from .spec import ConvSpec, padded_input


class NaivePrepared(Prepared):
    """Pure-Python convolution over nested lists; the padded input is built in prepare."""

    def __init__(self, x: np.ndarray, w: np.ndarray, spec: ConvSpec):
        self.spec = spec
        self.x = padded_input(x, spec).tolist()
        self.w = w.tolist()
        self.out: list = []

    def __call__(self) -> None:
        s = self.spec
        x, w, k, stride = self.x, self.w, s.k, s.stride
        out = []
        for n in range(s.N):
            out_n = []
            for f in range(s.F):
                out_nf = []
                for oh in range(s.Ho):
                    row = []
                    for ow in range(s.Wo):
                        acc = 0.0
                        for c in range(s.C):
                            for i in range(k):
                                for j in range(k):
                                    acc += x[n][c][oh * stride + i][ow * stride + j] * w[f][c][i][j]
                        row.append(acc)
                    out_nf.append(row)
                out_n.append(out_nf)
            out.append(out_n)
        self.out = out

    def result(self) -> np.ndarray:
        return np.array(self.out, dtype=self.spec.dtype).reshape(self.spec.out_shape)


@register
class NaiveBackend(Backend):
    """Pure-Python nested loops: the textbook definition, for teaching and tiny shapes."""

    name = "naive"
    device = "cpu"
    description = "pure-Python nested loops, the textbook definition (tiny shapes only)"

    def max_flops_per_call(self) -> float | None:
        return 5e7

    def prepare(self, x, w, spec):
        return NaivePrepared(x, w, spec)
