"""``numba-cpu-fused``: a 1x1 reduce and the kxk conv behind it in one Numba pass.

The default kernel is ``"simd"`` (:mod:`kernels.numba_cpu_fused_simd`): ``numba-cpu``'s explicit
SIMD machinery, vectorised over output channels in both stages. Each task (a band of output rows,
as below) reduces every row the band reads into a channels-last scratch with a tile of pixels x
blocks of V reduced channels, then runs ``numba-cpu``'s blocked direct tile on that scratch with
the conv weights pre-blocked in prepare, writing NCHW. The two older kernels below (256-bit
dot-product tiles with horizontal sums) stay as modes ``"ring"`` and ``"band"`` (``"legacy"``
picks between them with :func:`fused_mode`); on Inception 3a..5b they run at about half the speed.

Two separate calls write the whole intermediate tensor to memory and read it back
(padded and re-laid-out). Here each parallel task owns a band of output rows of
one image and keeps only the k reduced rows its current output row needs, in its
own small scratch (allocated in ``prepare``, indexed by task): a ring of k rows,
reduced row r in slot ``r % k``, refilled ``stride`` rows at a time while walking
down the band. The ring is laid out (padded column, slot, channel), so each output
pixel's kxk window is one contiguous run of ``k*k*C_red`` values; the k rotations
of the ring get k copies of the conv weights reordered to match (made in prepare),
so nothing is copied per output row. Both stages are register-tiled dot products
(4 channels or filters x 3 pixels, 12 accumulators in the array dtype) that LLVM
vectorises over channels. The conv's zero padding applies to the reduced tensor:
padded rows are zero rows in the ring, padded columns stay zero from prepare.
Bands: one per image when the batch fills the threads, else about one per thread;
each band but the first recomputes the k - stride reduced rows above it (halo).

That "ring" kernel sweeps all filters' weights for every output row, which costs
once the k weight copies outgrow L2 (the 3x3 branches from Inception 3b on). Then
the "band" kernel runs instead: each task reduces all rows of its band into its
scratch (rows, padded column, channel) first, then convolves the band with blocks
of 4 filters outermost, so their weights stay in L1 (see :func:`fused_mode`).

The reduce must be 1x1 (any stride and padding); the conv any k, stride, padding.
The compiled loops live in :mod:`kernels.numba_cpu_fused_loops`.
"""
from __future__ import annotations

import math

import numpy as np

from .backend import Prepared
from .chain import ChainSpec
from .chain_backend import ChainBackend, register_chain


def band_rows(spec: ChainSpec, threads: int) -> int:
    """Output rows per parallel task: whole images when the batch fills the threads (no halo is
    recomputed), else the images split into about ``threads`` bands in all (each band but the
    first recomputes k - stride reduced rows)."""
    bands_per_image = math.ceil(threads / max(spec.N, 1))
    return math.ceil(spec.conv.Ho / bands_per_image)


#: The ring kernel keeps k reordered copies of the conv weights and sweeps one of them for every
#: output row; above this many bytes of them the band kernel runs. Measured on a Xeon with 2 MiB
#: of L2 per core: ring wins up to ~2 MiB (Inception 4e 5x5), band from ~2.6 MiB (4b 3x3) on.
RING_MAX_WEIGHT_BYTES = 5 << 19


def fused_mode(spec: ChainSpec) -> str:
    """``"ring"`` (k reduced rows, contiguous windows) when its k weight copies fit
    :data:`RING_MAX_WEIGHT_BYTES`, else ``"band"`` (a band of reduced rows, filter blocks outermost)."""
    c = spec.conv
    return "ring" if c.k * c.F * c.C * c.k * c.k * c.itemsize <= RING_MAX_WEIGHT_BYTES else "band"


class FusedPrepared(Prepared):
    """Channels-last input, reordered weights, per-task scratch and the output of one fused chain.

    ``mode`` is ``"simd"`` (default), ``"ring"``, ``"band"`` or ``"legacy"`` (:func:`fused_mode`);
    ``threads`` sets the bands.
    """

    def __init__(self, x: np.ndarray, w_reduce: np.ndarray, w_conv: np.ndarray, spec: ChainSpec, threads: int,
                 mode: str | None = None):
        from . import numba_cpu_fused_loops as loops

        r, c = spec.reduce, spec.conv
        self.spec, self.mode = spec, mode or "simd"
        if self.mode == "legacy":
            self.mode = fused_mode(spec)
        self.out = np.empty(spec.out_shape, dtype=spec.dtype)
        self.band = band_rows(spec, threads)
        if self.mode == "simd":
            self._prepare_simd(x, w_reduce, w_conv)
            self()  # compile (or load from the cache) now, not in a timed call
            return
        self.xc = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).reshape(r.N, r.H, r.W * r.C)
        self.w1 = np.ascontiguousarray(w_reduce.reshape(r.F, r.C))
        tasks = spec.N * math.ceil(c.Ho / self.band)
        wp = c.W + 2 * c.padding
        if self.mode == "ring":
            # w2r[rot][f, j, slot, ch] = w_conv[f, ch, (slot - rot) % k, j]: the weights for ring rotation rot.
            w2t = w_conv.transpose(0, 3, 2, 1)  # (F, j, i, ch)
            w2r = np.stack([w2t[:, :, [(slot - rot) % c.k for slot in range(c.k)], :] for rot in range(c.k)])
            self.w2 = np.ascontiguousarray(w2r).reshape(c.k, c.F, c.k * c.k * c.C)
            self.scratch = np.zeros((tasks, wp * c.k * c.C), dtype=spec.dtype)  # padding columns stay 0
            self.held = np.empty((tasks, c.k), dtype=np.int64)
            self.kernel = loops.fused_reduce_conv
            self.args = (self.xc, self.w1, self.w2, self.out, self.scratch, self.held,
                         r.stride, r.padding, c.stride, c.padding, self.band)
        elif self.mode == "band":
            self.w2 = np.ascontiguousarray(w_conv.transpose(0, 2, 3, 1)).reshape(c.F, c.k, c.k * c.C)
            rows = (self.band - 1) * c.stride + c.k
            self.scratch = np.zeros((tasks, rows, wp * c.C), dtype=spec.dtype)  # padding columns stay 0
            self.kernel = loops.fused_reduce_conv_bands
            self.args = (self.xc, self.w1, self.w2, self.out, self.scratch,
                         r.stride, r.padding, c.stride, c.padding, self.band)
        else:
            raise ValueError(f"mode must be 'simd', 'ring' or 'band', got {mode!r}")
        self()  # compile (or load from the cache) now, not in a timed call

    def _prepare_simd(self, x, w_reduce, w_conv) -> None:
        """Padded channels-last input, both weights blocked by V output channels, per-task scratch."""
        from . import numba_cpu_blocked, numba_cpu_fused_simd, numba_cpu_layout, numba_isa

        spec, r, c = self.spec, self.spec.reduce, self.spec.conv
        V = numba_isa.VECTOR_BYTES // np.dtype(spec.dtype).itemsize
        p1 = r.padding
        self.xh = np.empty((r.N, r.H + 2 * p1, r.W + 2 * p1, r.C), dtype=spec.dtype)
        numba_cpu_layout.to_padded_nhwc(x, self.xh, p1)
        self.w1 = np.empty(((r.F + V - 1) // V, 1, 1, r.C, V), dtype=spec.dtype)
        numba_cpu_layout.block_filters(w_reduce, self.w1)
        tb = numba_cpu_blocked.TILE_B
        self.w2 = np.empty(((c.F + tb * V - 1) // (tb * V) * tb, c.k, c.k, c.C, V), dtype=spec.dtype)
        numba_cpu_layout.block_filters(w_conv, self.w2)
        tasks = spec.N * math.ceil(c.Ho / self.band)
        rows = (self.band - 1) * c.stride + c.k
        wp = c.W + 2 * c.padding
        self.scratch = np.zeros((max(tasks, 1), rows, wp, c.C), dtype=spec.dtype)  # never-written parts stay 0
        dims = (r.N, r.C, r.H + 2 * p1, r.W + 2 * p1, r.stride, c.H, c.W, c.C, c.F, c.k, c.stride, c.padding,
                c.Ho, c.Wo, self.band, rows)
        self.kernel = numba_cpu_fused_simd.fused_simd
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
