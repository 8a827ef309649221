"""``numba-cpu``: Numba ``@njit(parallel=True)`` loops of its own, no BLAS call inside.

Two kernels, both with explicit SIMD vectors (:mod:`kernels.numba_cpu.simd`) whose width is
picked at import for the compile target (:func:`isa_info`: 16 float32 lanes in ``zmm`` on
AVX-512, 8 in ``ymm`` on AVX2):

* every layer but a plain 1x1: a direct convolution vectorised over *output* channels, the
  oneDNN layout (:mod:`kernels.numba_cpu.blocked`): ``prepare()`` writes the input zero-padded
  and channels-last and the weights in blocks of V output channels, both with parallel Numba
  loops (:mod:`kernels.numba_cpu.layout`); a register tile of output pixels x 2 filter blocks
  takes one broadcast input value per pixel and one weight vector per block, all FMAs, no
  horizontal sums; the tile is transposed in registers and stored straight into NCHW;
* unpadded stride-1 1x1 layers: a register-blocked GEMM on the NCHW input as it is
  (:mod:`kernels.numba_cpu.gemm`), vectorised over pixels (on Intel AVX-512 from the pixels
  copied into one contiguous panel per tile in ``prepare()``, elsewhere from NCHW as it is) - unless
  the pixels of one image fill its vectors so badly (14x14 = 12.25 vectors of 16, 7x7 = 3.06)
  that the direct kernel, whose tiles run over the pixels of the whole batch, wastes less
  (:func:`pointwise_kernel`). A strided unpadded 1x1 runs as the stride-1 1x1 on the pixels
  it reads.

Both hand their tasks to the threads in guided chunks through atomic counters
(:mod:`kernels.numba_cpu.schedule`), so a thread the OS preempts holds up one chunk,
not half the layer; on Intel AVX-512 each thread has a region of the tasks it comes back to. docs/kernels-numba-cpu.md has the measurements. ``result()`` hands the output buffer over instead of copying it (:class:`HandoverPrepared`).
``numba-cpu-direct`` keeps the first version (axpy loops over NCHW, no register blocking) as a
variant so a sweep shows the progression; it runs only when named with ``--backends``. The
compiled loops are imported on first use so that ``import kernels`` stays cheap.
"""
from __future__ import annotations

import numpy as np

from ..backend import Backend, Prepared
from ..buffers import STREAM_OFFSETS, aligned_empty, placed_copy
from ..registry import register
from ..spec import ConvSpec, padded_input


def _loops():
    from . import loops

    return loops


def _numba_reason() -> str | None:
    try:
        import numba  # noqa: F401
    except ImportError as exc:  # pragma: no cover - numba is a core dependency
        return f"numba does not import: {exc}"
    return None


def isa_info() -> dict:
    """The vector ISA ``numba-cpu`` compiles for, its width and register tiles (imports numba).

    Keys: ``isa`` ("avx512" or "avx2"), ``vector_bits``, ``lanes`` (float32), ``lanes_float64``,
    ``cpu`` (LLVM CPU name), ``source`` (how it was decided: "host", "NUMBA_CPU_NAME" or
    "NUMBA_CPU_FEATURES"), ``conv_tile`` (pixels x filter vectors) and ``gemm_tile``
    (filters x pixel vectors).
    """
    from . import blocked, gemm, isa

    bits = isa.VECTOR_BYTES * 8
    return {
        "isa": isa.ISA,
        "vector_bits": bits,
        "lanes": bits // 32,
        "lanes_float64": bits // 64,
        "cpu": isa.CPU_NAME,
        "source": isa.SOURCE,
        "conv_tile": f"{blocked.TILE_P}x{blocked.TILE_B}",
        "gemm_tile": f"{gemm.GEMM_R}x{gemm.GEMM_B}",
    }


def _lanes(dtype) -> int:
    from . import isa

    return isa.VECTOR_BYTES // np.dtype(dtype).itemsize


#: How much of the GEMM's useful fraction the direct kernel must beat on a 1x1 layer (it is the
#: slower of the two on whole tiles of large images: Zen 5, one core, 28x28 and 56x56 layers 2-15
#: points lower; on 14x14 the two are even).
DIRECT_1X1_MARGIN = 0.95
#: What a group holding a single block of V filters costs the direct kernel, in blocks of a full
#: group: its one-block tile runs at ~2/3 of the full tile's FMA rate (Zen 5, one core: F=16 at
#: 55-56% of the roof, whole groups at 80-84%).
LONE_BLOCK_COST = 1.5
#: What the direct kernel's half tile (a batch's last tile, when it holds HALF_P pixels or fewer)
#: costs, in full tiles.
HALF_TILE_COST = 0.6


def _used(n: int, tile: int) -> float:
    """The fraction of ``ceil(n / tile)`` tiles of ``tile`` items that ``n`` items fill."""
    return n / (-(-n // tile) * tile)


def pointwise_kernel(spec: ConvSpec) -> str:
    """"gemm" or "direct": which numba-cpu kernel runs the unpadded stride-1 1x1 layer ``spec``.

    The GEMM tiles each image's H*W pixels by 2 vectors and F by GEMM_R rows; the direct kernel
    tiles the N*H*W pixels of the batch by TILE_P (a last half tile at HALF_TILE_COST) and F by
    2 vectors (a last lone vector of filters at LONE_BLOCK_COST). The one whose tiles carry the larger useful fraction wins, the
    direct kernel only by more than DIRECT_1X1_MARGIN (on Zen 5, one core: Inception 4a-5b's
    14x14 and 7x7 1x1 layers run 5-20 points faster direct unless F is 16 or 24; 28x28 and 56x56
    layers faster as a GEMM).
    """
    from . import blocked, gemm

    V = _lanes(spec.dtype)
    q = spec.H * spec.W
    gemm_used = _used(spec.F, gemm.GEMM_R) * _used(q, gemm.GEMM_B * V)
    blocks = -(-spec.F // V)
    lone = blocks % blocked.TILE_B
    cost = (blocks - lone) + lone * LONE_BLOCK_COST  # in blocks of V filters
    pixels = spec.N * q
    tail = pixels % blocked.TILE_P
    tiles = pixels // blocked.TILE_P + (0 if tail == 0 else HALF_TILE_COST if tail <= blocked.HALF_P else 1)
    direct_used = spec.F / (V * cost) * pixels / (tiles * blocked.TILE_P)
    return "direct" if direct_used * DIRECT_1X1_MARGIN > gemm_used else "gemm"


class HandoverPrepared(Prepared):
    """A Prepared whose ``result()`` hands its output buffer over instead of copying it.

    The next call writes into a fresh buffer, so arrays already returned never change; this
    saves ``kernels.conv2d`` one copy of the output. Subclasses set ``self.kernel``,
    ``self.inputs`` (the arguments before the output) and ``self.after`` (those after it), then
    call :meth:`new_output` once.
    """

    def new_output(self) -> None:
        """Allocate the output buffer the next call writes into (at its own offset in a page)."""
        self.out = aligned_empty(self.spec.out_shape, self.spec.dtype, STREAM_OFFSETS[2])
        self.args = self.inputs + (self.out.reshape(-1),) + self.after

    def __call__(self) -> None:
        if self.out is None:
            self.new_output()
        self.kernel(*self.args)

    def result(self) -> np.ndarray:
        if self.out is None:
            return self.last.copy()
        self.last, self.out = self.out, None
        return self.last


class NumbaBlockedPrepared(HandoverPrepared):
    """Padded channels-last input and output-channel-blocked weights for the direct kernel."""

    def __init__(self, x: np.ndarray, w: np.ndarray, spec: ConvSpec):
        from numba import get_num_threads

        from . import blocked, layout, schedule

        self.spec = spec
        p, k, V = spec.padding, spec.k, _lanes(spec.dtype)
        Hp, Wp = spec.H + 2 * p, spec.W + 2 * p
        group = V * blocked.TILE_B
        nb = (spec.F + group - 1) // group * blocked.TILE_B
        Cp = blocked.channel_pitch(spec.C, spec.stride, np.dtype(spec.dtype).itemsize)
        self.xh = aligned_empty((spec.N, Hp, Wp, Cp), spec.dtype, STREAM_OFFSETS[0])
        layout.to_padded_nhwc(x, self.xh, p)
        self.wb = aligned_empty((nb, k, k, spec.C, V), spec.dtype, STREAM_OFFSETS[1])
        layout.block_filters(w, self.wb)
        self.inputs = (self.xh.reshape(-1), self.wb.reshape(-1))
        dims = (spec.N, spec.C, Cp, Hp, Wp, spec.F, k, spec.stride, spec.Ho, spec.Wo)
        tasks = blocked.conv_task_count(spec.N, spec.Ho * spec.Wo, spec.F, V)
        self.after = (dims, schedule.task_chunks(tasks, get_num_threads()))
        self.new_output()
        self.kernel = blocked.conv_oc_blocked
        self.kernel(*self.args[:3], (0,) + dims[1:], self.after[1])  # compile (or load from the cache), run nothing


class NumbaGemmPrepared(HandoverPrepared):
    """Unpadded stride-1 1x1 convolution as a register-blocked GEMM on the NCHW input itself."""

    def __init__(self, x: np.ndarray, w: np.ndarray, spec: ConvSpec, packed: bool | None = None):
        from numba import get_num_threads

        from . import blocked, gemm, layout, schedule

        self.spec = spec
        R, Q = gemm.GEMM_R, spec.H * spec.W
        packed = gemm.PACK_PIXELS if packed is None else packed
        if packed:
            # pixels in panels of one tile's width: a tile streams one contiguous run of C panel rows
            width = gemm.GEMM_B * _lanes(spec.dtype)
            self.x = aligned_empty((spec.N, -(-Q // width), spec.C, width), spec.dtype, STREAM_OFFSETS[0])
            layout.pack_pixels(x.reshape(spec.N, spec.C, Q), self.x)
        else:
            # the GEMM streams x itself: a copy placed in its page makes its speed the same in every process
            # (placing only w and the output relative to wherever x landed did not: 278-456 us on 3a 5x5 reduce)
            self.x = placed_copy(x, STREAM_OFFSETS[0])
        self.wp = aligned_empty(((spec.F + R - 1) // R, spec.C, R), spec.dtype, STREAM_OFFSETS[1])
        layout.pack_rows(w, self.wp)
        self.inputs = (self.x.reshape(-1), self.wp.reshape(-1))
        dims = (spec.N, spec.C, Q, spec.F, int(packed))
        tasks = gemm.gemm_task_count(spec.N, Q, spec.F, _lanes(spec.dtype))
        self.after = (dims, schedule.task_chunks(tasks, get_num_threads()))
        self.new_output()
        self.kernel = gemm.conv1x1_gemm
        self.kernel(*self.args[:3], (0,) + dims[1:], self.after[1])  # compile (or load from the cache), run nothing


@register
class NumbaCpuBackend(Backend):
    """Numba parallel CPU: explicit-SIMD direct convolution over output channels, 1x1 as GEMM; no BLAS."""

    name = "numba-cpu"
    device = "cpu"
    description = (
        "Numba @njit(parallel=True): explicit SIMD (zmm on AVX-512, ymm on AVX2), "
        "oneDNN-style output-channel-blocked direct conv; 1x1 as GEMM"
    )

    def unavailable_reason(self) -> str | None:
        return _numba_reason()

    def prepare(self, x, w, spec):
        if spec.k == 1 and spec.padding == 0 and spec.stride > 1:
            # a strided 1x1 reads one input pixel in stride**2: the layout keeps only those, and the
            # layer runs as the stride-1 1x1 it then is (conv3 downsample/2 at N=8: 27 MB of padded
            # channels-last input, of which 7 MB were read, now 7 MB all read)
            s = spec.stride
            inner = ConvSpec(spec.N, spec.C, spec.Ho, spec.Wo, spec.F, 1, 1, 0, spec.dtype)
            prepared = self.prepare(x[:, :, ::s, ::s], w, inner)
            prepared.spec = spec
            return prepared
        if spec.is_pointwise and pointwise_kernel(spec) == "gemm":
            return NumbaGemmPrepared(x, w, spec)
        return NumbaBlockedPrepared(x, w, spec)


class NumbaPointwisePrepared(Prepared):
    """1x1 stride-1 convolution through the simple pointwise axpy loop."""

    def __init__(self, x: np.ndarray, w: np.ndarray, spec: ConvSpec):
        self.spec = spec
        self.x = np.ascontiguousarray(x).reshape(spec.N, spec.C, spec.H * spec.W)
        self.w = np.ascontiguousarray(w).reshape(spec.F, spec.C)
        self.out = np.empty((spec.N, spec.F, spec.H * spec.W), dtype=spec.dtype)
        self.kernel = _loops().conv1x1
        self.kernel(self.x, self.w, self.out)  # compile now

    def __call__(self) -> None:
        self.kernel(self.x, self.w, self.out)

    def result(self) -> np.ndarray:
        return self.out.reshape(self.spec.out_shape).copy()


class NumbaDirectPrepared(Prepared):
    """General kxk convolution (any stride/padding) through the simple direct loop."""

    def __init__(self, x: np.ndarray, w: np.ndarray, spec: ConvSpec):
        self.spec = spec
        self.xp = padded_input(x, spec)
        self.w = np.ascontiguousarray(w)
        self.out = np.empty(spec.out_shape, dtype=spec.dtype)
        self.kernel = _loops().conv_direct
        self.kernel(self.xp, self.w, self.out, spec.stride)  # compile now

    def __call__(self) -> None:
        self.kernel(self.xp, self.w, self.out, self.spec.stride)

    def result(self) -> np.ndarray:
        return self.out.copy()


@register
class NumbaCpuDirectBackend(Backend):
    """The first numba-cpu version, kept as a variant: axpy loops over plain NCHW, no blocking."""

    name = "numba-cpu-direct"
    device = "cpu"
    description = "Numba variant: unblocked axpy loops over NCHW (the starting point of numba-cpu)"
    in_default_sweep = False

    def unavailable_reason(self) -> str | None:
        return _numba_reason()

    def prepare(self, x, w, spec):
        if spec.is_pointwise:
            return NumbaPointwisePrepared(x, w, spec)
        return NumbaDirectPrepared(x, w, spec)
