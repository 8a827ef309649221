"""``numba-cuda``: ``@cuda.jit`` GPU kernels (a direct kernel and a tiled shared-memory 1x1 GEMM).

Device buffers are allocated and inputs uploaded in ``prepare`` (timed as
``h2d_s``); ``result`` downloads the output (timed as ``d2h_s``). Runs on a real
GPU, or under the CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) where it is
checked for correctness but never timed.
"""
from __future__ import annotations

import time

import numpy as np

from .backend import Backend, Prepared
from .registry import register
from .spec import ConvSpec


def _simulator_enabled() -> bool:
    from numba.cuda import config

    return bool(config.ENABLE_CUDASIM)


class CudaEventTimer:
    """Times a region on the GPU stream with a pair of CUDA events; ``stop()`` returns seconds."""

    def __init__(self):
        from numba import cuda

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
    """Device buffers plus a launch closure for one convolution on the GPU."""

    def __init__(self, x: np.ndarray, w: np.ndarray, spec: ConvSpec):
        from numba import cuda

        from . import _numba_cuda_kernels as kern

        self.spec = spec
        self._cuda = cuda
        direct, pointwise = kern.kernels_for(spec.dtype)
        t0 = time.perf_counter()
        if spec.is_pointwise:
            P = spec.H * spec.W
            self.d_x = cuda.to_device(np.ascontiguousarray(x).reshape(spec.N, spec.C, P))
            self.d_w = cuda.to_device(np.ascontiguousarray(w).reshape(spec.F, spec.C))
            self.d_out = cuda.device_array((spec.N, spec.F, P), dtype=spec.dtype)
            grid, block = kern.pointwise_launch(spec.N, spec.F, P)
            self._launch = lambda: pointwise[grid, block](self.d_x, self.d_w, self.d_out)
        else:
            p = spec.padding
            xp = np.zeros((spec.N, spec.C, spec.H + 2 * p, spec.W + 2 * p), dtype=spec.dtype)
            xp[:, :, p : p + spec.H, p : p + spec.W] = x
            self.d_x = cuda.to_device(xp)
            self.d_w = cuda.to_device(np.ascontiguousarray(w))
            self.d_out = cuda.device_array(spec.out_shape, dtype=spec.dtype)
            blocks, threads = kern.direct_launch(int(np.prod(spec.out_shape)), _simulator_enabled())
            stride = spec.stride
            self._launch = lambda: direct[blocks, threads](self.d_x, self.d_w, self.d_out, stride)
        cuda.synchronize()
        self.h2d_s = time.perf_counter() - t0
        self.d2h_s: float | None = None

    def __call__(self) -> None:
        self._launch()

    def sync(self) -> None:
        self._cuda.synchronize()

    def result(self) -> np.ndarray:
        t0 = time.perf_counter()
        out = self.d_out.copy_to_host()
        self.d2h_s = time.perf_counter() - t0
        return out.reshape(self.spec.out_shape)

    def event_timer(self):
        return None if _simulator_enabled() else CudaEventTimer()


@register
class NumbaCudaBackend(Backend):
    """numba.cuda kernels: tiled shared-memory GEMM for 1x1, one-thread-per-output direct for kxk."""

    name = "numba-cuda"
    device = "cuda"
    description = "numba.cuda kernels: tiled shared-memory 1x1 GEMM + direct kxk"

    def __init__(self):
        self._reason: str | None | bool = False

    def unavailable_reason(self) -> str | None:
        if self._reason is False:
            try:
                from numba import cuda
            except ImportError as exc:
                self._reason = f"numba.cuda does not import ({exc}); install the 'cuda' extra"
            else:
                if cuda.is_available():
                    self._reason = None
                else:
                    self._reason = "no CUDA GPU found (numba.cuda.is_available() is False; NUMBA_ENABLE_CUDASIM=1 runs the simulator)"
        return self._reason

    def timing_unsupported_reason(self) -> str | None:
        if _simulator_enabled():
            return "CUDA simulator (NUMBA_ENABLE_CUDASIM=1): checked for correctness, never timed"
        return None

    def max_flops_per_call(self) -> float | None:
        return 2e6 if _simulator_enabled() else None

    def prepare(self, x, w, spec):
        return NumbaCudaPrepared(x, w, spec)
