"""``numba-cuda``: ``@cuda.jit`` GPU kernels; ``numba-cuda-direct``: the naive one-thread-per-output kernel.

``numba-cuda`` runs every convolution (1x1 included) as an implicit GEMM with the
batch folded into the columns: a block tile (up to 128x128 outputs, 8-deep
reduction stages double-buffered in shared memory, 8x8 register tiles per
thread) and a split of K for narrow, deep layers, both chosen per layer by
:func:`.tiles.choose`; input patches are gathered from the zero-padded input
through a table of per-step offsets (no im2col buffer, no division in the loop).
A split K needs a zeroed output before each call: two output buffers take turns,
each call zeroing the other's (:class:`~.launch.Alternating`), so a call stays one launch.
Device buffers are allocated, inputs uploaded and the launch's parameters
marshalled once in ``prepare`` (timed as ``h2d_s``; :mod:`.launch`); ``result``
downloads the output (timed as ``d2h_s``). Runs on a real GPU, or under the CUDA
simulator (``NUMBA_ENABLE_CUDASIM=1``) where it is checked for correctness but
never timed.
"""
from __future__ import annotations

import time

import numpy as np

from ..backend import Backend, Prepared
from .compat import import_cuda, quick_thread_switching
from .launch import MODES, Alternating, Launcher, forced_mode
from .tiles import GPU_TILES, SIMULATOR_TILES, active_model, choose
from ..registry import register
from ..spec import ConvSpec, padded_input

#: Bytes written between rounds by ``flush_device_cache`` (larger than any current GPU's L2).
FLUSH_BYTES = 256 * 2**20


def _simulator_enabled() -> bool:
    import_cuda()
    from numba.cuda import config

    return bool(config.ENABLE_CUDASIM)


def _sm_count(cuda) -> int:
    """Streaming multiprocessors of the current GPU (the simulator reports one)."""
    try:
        return max(1, int(cuda.get_current_device().MULTIPROCESSOR_COUNT))
    except Exception:
        return 1


def _zeroer(cuda, *buffers):
    """A call that zeroes every one of ``buffers`` (device arrays) and waits for it."""
    def zero() -> None:
        if _simulator_enabled():
            for buffer in buffers:
                buffer.copy_to_device(np.zeros(buffer.shape, buffer.dtype))
            return
        from numba.cuda.cudadrv import driver

        for buffer in buffers:
            driver.device_memset(buffer, 0, buffer.size * buffer.dtype.itemsize, stream=cuda.default_stream())
        cuda.synchronize()

    return zero


def _config_error() -> str | None:
    """Why ``CONVBENCH_CUDA_LAUNCH`` or ``CONVBENCH_TILE_MODEL`` cannot be used (checked on every ask: the
    environment may change in a notebook), or None."""
    try:
        forced_mode()
        active_model()
    except ValueError as exc:
        return f"bad configuration: {exc}"
    return None


def simulated(launch):
    """``launch`` run with quick GIL switching: the simulator's threads need the GIL often (:mod:`.compat`)."""
    def run() -> None:
        with quick_thread_switching():
            launch()

    return run


class CudaEventTimer:
    """Times a region on the GPU stream with a pair of CUDA events; ``stop()`` returns seconds."""

    def __init__(self):
        cuda = import_cuda()
        self._cuda = cuda
        self._start = cuda.event(timing=True)
        self._end = cuda.event(timing=True)

    def start(self) -> None:
        """Record the start event on the default stream."""
        self._start.record()

    def stop(self) -> float:
        """Record the end event, wait for it, and return the elapsed time in seconds."""
        self._end.record()
        self._end.synchronize()
        return self._cuda.event_elapsed_time(self._start, self._end) / 1e3


class NumbaCudaPrepared(Prepared):
    """Zero-padded input, weights and output on the device, plus the launch of one kernel.

    ``choice`` (implicit GEMM only) forces a :class:`~.tiles.Choice` of tile and split-K; by default
    :func:`~.tiles.choose` picks one from the GEMM's shape and the GPU's SM count. ``tile``, ``splits`` and
    ``launch_mode`` say what runs (``launch_fallback``: why the launch is not the fastest mode, if so).
    """

    def __init__(self, x: np.ndarray, w: np.ndarray, spec: ConvSpec, direct: bool, choice=None):
        cuda = import_cuda()

        self.spec = spec
        self._cuda = cuda
        self._flush_buffer = self._twin = self._alternating = None
        self.tile, self.splits, self.launch_mode, self.launch_fallback = None, 1, None, None
        xp = padded_input(x, spec)
        t0 = time.perf_counter()
        self.d_out = cuda.device_array(spec.out_shape, dtype=spec.dtype)
        if direct:
            self.d_x = cuda.to_device(xp)
            self.d_w = cuda.to_device(np.ascontiguousarray(w))
        else:
            k, depth = spec.k, spec.C * spec.k * spec.k
            self._Wp, self._image = xp.shape[3], int(np.prod(xp.shape[1:]))
            taps = np.arange(depth)
            channel, tap = taps // (k * k), taps % (k * k)
            koff = channel * xp.shape[2] * self._Wp + (tap // k) * self._Wp + tap % k
            self.d_x = cuda.to_device(np.ascontiguousarray(xp).reshape(-1))
            self.d_w = cuda.to_device(np.ascontiguousarray(w.reshape(spec.F, -1).T).reshape(-1))
            # int32 offsets unless one padded image holds 2**31 elements or more (a kernel of its own then)
            self.d_koff = cuda.to_device(koff.astype(np.int32 if self._image < 2**31 else np.int64))
        cuda.synchronize()
        self.h2d_s = time.perf_counter() - t0  # the copies only: compiling and probing the launch come after
        if direct:
            from . import cuda_kernels as kern

            blocks, threads = kern.direct_launch(int(np.prod(spec.out_shape)))
            self._set_launch(self._probed(Launcher(kern.direct_kernel_for(spec.dtype), blocks, threads,
                                                   (self.d_x, self.d_w, self.d_out, spec.stride))))
        else:
            self.use(choice)

    def use(self, choice=None) -> None:
        """Launch the implicit GEMM with ``choice`` (a :class:`~.tiles.Choice`; default: :func:`~.tiles.choose`'s)
        from now on; the device buffers stay. A split K alternates two output buffers
        (:class:`~.launch.Alternating`)."""
        from . import cuda_kernels as kern

        spec = self.spec
        depth, columns = spec.C * spec.k * spec.k, spec.N * spec.Ho * spec.Wo
        if choice is None:
            choice = choose(spec.F, depth, max(columns, 1), _sm_count(self._cuda),
                            SIMULATOR_TILES if _simulator_enabled() else GPU_TILES)
        covered = choice.splits * choice.k_per_split
        if choice.k_per_split % choice.tile.bk or not covered >= depth > covered - choice.k_per_split:
            raise ValueError(f"{choice}: {choice.splits} splits of {choice.k_per_split} covers {covered} of K = "
                             f"{depth}; each split must be a multiple of {choice.tile.bk} and the last one non-empty")
        kernel = kern.igemm_kernel_for(spec.dtype, choice.tile, choice.splits > 1)
        grid = choice.grid(spec.F, max(columns, 1))

        def launcher(out, clear):
            args = (self.d_x, self.d_w, self.d_koff, out.reshape(-1), clear.reshape(-1), spec.F, depth,
                    choice.k_per_split, spec.Ho * spec.Wo, columns, spec.Wo, spec.stride, self._Wp, self._image)
            return self._probed(Launcher(kernel, grid, choice.tile.threads, args))

        # everything is built (and may raise) before anything is replaced: a failed use() keeps the last choice
        if choice.splits == 1 or not self.d_out.size:
            shown, alternating = launcher(self.d_out, self.d_out), None
        else:
            if self._twin is None:
                self._twin = self._cuda.device_array(spec.out_shape, dtype=spec.dtype)
            buffers = (self.d_out, self._twin)
            pair = (launcher(*buffers), launcher(*buffers[::-1]))
            alternating = Alternating(pair, buffers, _zeroer(self._cuda, *buffers))
            shown = max(pair, key=lambda made: MODES.index(made.mode))  # the slower mode, should they differ
        self.tile, self.splits, self._alternating = choice.tile, choice.splits, alternating
        self._set_launch(shown, alternating)

    def _probed(self, launcher):
        """``launcher``, launched once on a GPU to settle its mode (:meth:`~.launch.Launcher.probe`)."""
        if self.d_out.size and not _simulator_enabled():
            launcher.probe()
        return launcher

    def _set_launch(self, launcher, call=None) -> None:
        """Make ``__call__`` run ``call`` (default: ``launcher`` itself, whose mode is reported); nothing at all
        for an empty output."""
        self.launch_mode, self.launch_fallback = launcher.mode, launcher.fallback_reason
        call = launcher if call is None else call
        if _simulator_enabled():  # decided here, once: the timed __call__ on a GPU stays one launch
            call = simulated(call)
        self._launch = call if self.d_out.size else (lambda: None)

    def __call__(self) -> None:
        self._launch()

    def sync(self) -> None:
        self._cuda.synchronize()

    def result(self) -> np.ndarray:
        t0 = time.perf_counter()
        out = (self._alternating.latest() if self._alternating else self.d_out).copy_to_host()
        self.d2h_s = time.perf_counter() - t0
        return out

    def event_timer(self):
        return None if _simulator_enabled() else CudaEventTimer()

    def flush_device_cache(self) -> bool:
        """Overwrite a buffer larger than the L2 cache so the next call starts cold."""
        if self._flush_buffer is None:
            self._flush_buffer = self._cuda.device_array(FLUSH_BYTES // 4, dtype=np.float32)
        self._flush_buffer[:] = 0
        self._cuda.synchronize()
        return True


class _NumbaCudaBase(Backend):
    device = "cuda"
    direct = False

    def __init__(self):
        self._reason: str | None | bool = False

    def unavailable_reason(self) -> str | None:
        if self._reason is False:
            try:
                cuda = import_cuda()
            except ImportError as exc:
                self._reason = f"numba.cuda does not import ({exc}); install the 'cuda' extra"
            else:
                self._reason = None if cuda.is_available() else (
                    "no CUDA GPU found (numba.cuda.is_available() is False; NUMBA_ENABLE_CUDASIM=1 runs the simulator)")
        return self._reason or _config_error()

    def timing_unsupported_reason(self) -> str | None:
        if _simulator_enabled():
            return "CUDA simulator (NUMBA_ENABLE_CUDASIM=1): checked for correctness, never timed"
        return None

    def max_flops_per_call(self) -> float | None:
        return 2e6 if _simulator_enabled() else None

    def prepare(self, x, w, spec):
        return NumbaCudaPrepared(x, w, spec, direct=self.direct)


@register
class NumbaCudaBackend(_NumbaCudaBase):
    """numba.cuda implicit GEMM: per-layer block tiles and split-K, 8x8 register blocking, for 1x1 and kxk."""

    name = "numba-cuda"
    description = "numba.cuda implicit GEMM: per-layer tiles up to 128x128, 8x8 register blocking, split-K"


@register
class NumbaCudaDirectBackend(_NumbaCudaBase):
    """The first numba-cuda kernel, kept as a variant: one thread per output, no shared memory."""

    name = "numba-cuda-direct"
    description = "numba.cuda variant: one thread per output element, no tiling"
    direct = True
    in_default_sweep = False
