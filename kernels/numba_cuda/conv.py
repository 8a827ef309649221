"""``numba-cuda``: ``@cuda.jit`` GPU kernels; ``numba-cuda-direct``: the naive one-thread-per-output kernel.

``numba-cuda`` runs every convolution (1x1 included) as an implicit GEMM: 64x64
output tiles per block, 16-deep reduction stages staged in shared memory, each
thread accumulating a 4x4 register tile; input patches are gathered from the
zero-padded input on the fly (no im2col buffer). Device buffers are allocated
and inputs uploaded in ``prepare`` (timed as ``h2d_s``); ``result`` downloads the
output (timed as ``d2h_s``). Runs on a real GPU, or under the CUDA simulator
(``NUMBA_ENABLE_CUDASIM=1``) where it is checked for correctness but never timed.
"""
from __future__ import annotations

import time

import numpy as np

from ..backend import Backend, Prepared
from .compat import import_cuda, quick_thread_switching
from ..registry import register
from ..spec import ConvSpec, padded_input

#: Bytes written between rounds by ``flush_device_cache`` (larger than any current GPU's L2).
FLUSH_BYTES = 256 * 2**20


def _simulator_enabled() -> bool:
    import_cuda()
    from numba.cuda import config

    return bool(config.ENABLE_CUDASIM)


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
    """Zero-padded input, weights and output on the device, plus the launch of one kernel."""

    def __init__(self, x: np.ndarray, w: np.ndarray, spec: ConvSpec, direct: bool):
        from . import cuda_kernels as kern

        cuda = import_cuda()

        self.spec = spec
        self._cuda = cuda
        self._flush_buffer = None
        direct_kernel, igemm = kern.kernels_for(spec.dtype)
        xp = padded_input(x, spec)
        t0 = time.perf_counter()
        self.d_x = cuda.to_device(xp)
        self.d_out = cuda.device_array(spec.out_shape, dtype=spec.dtype)
        k, stride = spec.k, spec.stride
        if direct:
            self.d_w = cuda.to_device(np.ascontiguousarray(w))
            blocks, threads = kern.direct_launch(int(np.prod(spec.out_shape)))
            configured = direct_kernel[blocks, threads]  # configure once: not on every timed call
            self._launch = lambda: configured(self.d_x, self.d_w, self.d_out, stride)
        else:
            self.d_w = cuda.to_device(np.ascontiguousarray(w.reshape(spec.F, -1).T))
            grid, block = kern.igemm_launch(spec.N, spec.F, spec.Ho * spec.Wo)
            configured = igemm[grid, block]
            self._launch = lambda: configured(self.d_x, self.d_w, self.d_out, k, stride)
        if _simulator_enabled():  # decided here, once: the timed __call__ on a GPU stays one launch
            self._launch = simulated(self._launch)
        cuda.synchronize()
        self.h2d_s = time.perf_counter() - t0

    def __call__(self) -> None:
        self._launch()

    def sync(self) -> None:
        self._cuda.synchronize()

    def result(self) -> np.ndarray:
        t0 = time.perf_counter()
        out = self.d_out.copy_to_host()
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
        return self._reason

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
    """numba.cuda implicit GEMM: shared-memory tiles and 4x4 register blocking, for 1x1 and kxk."""

    name = "numba-cuda"
    description = "numba.cuda implicit GEMM: 64x64 shared-memory tiles, 4x4 register blocking"


@register
class NumbaCudaDirectBackend(_NumbaCudaBase):
    """The first numba-cuda kernel, kept as a variant: one thread per output, no shared memory."""

    name = "numba-cuda-direct"
    description = "numba.cuda variant: one thread per output element, no tiling"
    direct = True
    in_default_sweep = False
