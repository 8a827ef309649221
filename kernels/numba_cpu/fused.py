"""``numba-cpu-fused``: a 1x1 reduce and the kxk conv behind it in one Numba pass.

The kernel (:mod:`kernels.numba_cpu.fused_simd`) uses ``numba-cpu``'s explicit SIMD machinery,
vectorised over output channels in both stages. Two separate calls write the whole intermediate
tensor to memory and read it back (padded and re-laid-out); here each parallel task owns a band
of output rows of one image, reduces every row the band reads into its own channels-last
scratch (allocated in ``prepare``, indexed by task) with a tile of pixels x blocks of V reduced
channels, then runs ``numba-cpu``'s blocked direct tile on that scratch with the conv weights
pre-blocked in prepare, writing NCHW. The conv's zero padding applies to the reduced tensor:
padded columns of the scratch stay zero from prepare. Bands: one per image when the batch fills
the threads, else about one per thread; each band but the first recomputes the k - stride
reduced rows above it (halo).

The reduce must be 1x1 (any stride and padding); the conv any k, stride, padding.
"""
from __future__ import annotations

import math

import numpy as np

from ..backend import Prepared
from ..chain import ChainSpec
from ..chain_backend import ChainBackend, register_chain


def band_rows(spec: ChainSpec, threads: int) -> int:
    """Output rows per parallel task: whole images when the batch fills the threads (no halo is
    recomputed), else the images split into about ``threads`` bands in all (each band but the
    first recomputes k - stride reduced rows)."""
    bands_per_image = math.ceil(threads / max(spec.N, 1))
    return math.ceil(spec.conv.Ho / bands_per_image)


class FusedPrepared(Prepared):
    """Padded channels-last input, blocked weights, per-task scratch and the output of one fused chain;
    ``threads`` sets the bands (:func:`band_rows`)."""

    def __init__(self, x: np.ndarray, w_reduce: np.ndarray, w_conv: np.ndarray, spec: ChainSpec, threads: int):
        self.spec = spec
        self.out = np.empty(spec.out_shape, dtype=spec.dtype)
        self.band = band_rows(spec, threads)
        self._prepare_simd(x, w_reduce, w_conv)
        self()  # compile (or load from the cache) now, not in a timed call

    def _prepare_simd(self, x, w_reduce, w_conv) -> None:
        """Padded channels-last input, both weights blocked by V output channels, per-task scratch."""
        # imported here: they import numba, which `import kernels` (and so `harness --help`) must not
        from . import blocked, fused_simd, isa, layout

        spec, r, c = self.spec, self.spec.reduce, self.spec.conv
        V = isa.VECTOR_BYTES // np.dtype(spec.dtype).itemsize
        p1 = r.padding
        self.xh = np.empty((r.N, r.H + 2 * p1, r.W + 2 * p1, r.C), dtype=spec.dtype)
        layout.to_padded_nhwc(x, self.xh, p1)
        self.w1 = np.empty(((r.F + V - 1) // V, 1, 1, r.C, V), dtype=spec.dtype)
        layout.block_filters(w_reduce, self.w1)
        tb = blocked.TILE_B
        self.w2 = np.empty(((c.F + tb * V - 1) // (tb * V) * tb, c.k, c.k, c.C, V), dtype=spec.dtype)
        layout.block_filters(w_conv, self.w2)
        tasks = spec.N * math.ceil(c.Ho / self.band)
        rows = (self.band - 1) * c.stride + c.k
        wp = c.W + 2 * c.padding
        self.scratch = np.zeros((max(tasks, 1), rows, wp, c.C), dtype=spec.dtype)  # never-written parts stay 0
        dims = (r.N, r.C, r.H + 2 * p1, r.W + 2 * p1, r.stride, c.H, c.W, c.C, c.F, c.k, c.stride, c.padding,
                c.Ho, c.Wo, self.band, rows)
        self.kernel = fused_simd.fused_simd
        self.args = (self.xh.reshape(-1), self.w1.reshape(-1), self.w2.reshape(-1), self.out.reshape(-1),
                     self.scratch.reshape(-1), dims)

    def __call__(self) -> None:
        self.kernel(*self.args)

    def result(self) -> np.ndarray:
        return self.out.copy()


@register_chain
class NumbaCpuFusedChain(ChainBackend):
    """Numba parallel CPU: 1x1 reduce + kxk conv fused per band of output rows; no BLAS inside."""

    name = "numba-cpu-fused"
    device = "cpu"
    unfused = "numba-cpu"
    description = ("Numba @njit(parallel=True): 1x1 reduce fused into the kxk conv, reduced rows kept in cache; "
                   "explicit SIMD over output channels like numba-cpu")

    def unavailable_reason(self) -> str | None:
        try:
            import numba  # noqa: F401
        except ImportError as exc:  # pragma: no cover - numba is a core dependency
            return f"numba does not import: {exc}"
        return None

    def unsupported_reason(self, spec: ChainSpec) -> str | None:
        if spec.reduce.k != 1:
            return f"the reduce must be 1x1, got k={spec.reduce.k} (use an unfused chain backend)"
        return None

    def prepare_chain(self, x, w_reduce, w_conv, spec):
        reason = self.unsupported_reason(spec)
        if reason is not None:
            raise ValueError(f"{self.name}: {reason}")
        import numba

        return FusedPrepared(x, w_reduce, w_conv, spec, numba.get_num_threads())
