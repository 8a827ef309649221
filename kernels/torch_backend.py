"""``torch``: the vendor library as the reference to beat (oneDNN on CPU, cuDNN on GPU).

``torch.nn.functional.conv2d`` under ``no_grad``; on CUDA when a GPU is present,
with TF32 disabled so float32 is compared with float32. Registered always,
available only where torch imports.
"""
from __future__ import annotations

import time

import numpy as np

from .backend import Backend, Prepared
from .registry import register
from .spec import ConvSpec


class TorchEventTimer:
    """Times a region on the current CUDA stream with torch CUDA events; ``stop()`` returns seconds."""

    def __init__(self, torch):
        self._start = torch.cuda.Event(enable_timing=True)
        self._end = torch.cuda.Event(enable_timing=True)

    def start(self) -> None:
        """Record the start event."""
        self._start.record()

    def stop(self) -> float:
        """Record the end event, wait for it and return elapsed seconds."""
        self._end.record()
        self._end.synchronize()
        return self._start.elapsed_time(self._end) / 1e3


class TorchPrepared(Prepared):
    """Input and weight tensors on the target device; each call runs ``F.conv2d`` once."""

    def __init__(self, torch, device: str, x: np.ndarray, w: np.ndarray, spec: ConvSpec):
        self.torch = torch
        self.device = device
        self.spec = spec
        t0 = time.perf_counter()
        self.x = torch.from_numpy(np.ascontiguousarray(x)).to(device)
        self.w = torch.from_numpy(np.ascontiguousarray(w)).to(device)
        self.sync()
        self.h2d_s = time.perf_counter() - t0 if device == "cuda" else None
        self.out = None
        self._flush_buffer = None

    def __call__(self) -> None:
        with self.torch.no_grad():
            self.out = self.torch.nn.functional.conv2d(
                self.x, self.w, stride=self.spec.stride, padding=self.spec.padding
            )

    def sync(self) -> None:
        if self.device == "cuda":
            self.torch.cuda.synchronize()

    def result(self) -> np.ndarray:
        t0 = time.perf_counter()
        out = self.out.cpu().numpy()
        if self.device == "cuda":
            self.d2h_s = time.perf_counter() - t0
        return out

    def event_timer(self):
        return TorchEventTimer(self.torch) if self.device == "cuda" else None

    def flush_device_cache(self) -> bool:
        """On CUDA, overwrite a buffer larger than the L2 cache so the next call starts cold."""
        if self.device != "cuda":
            return False
        if self._flush_buffer is None:
            self._flush_buffer = self.torch.empty(256 * 2**20, dtype=self.torch.uint8, device="cuda")
        self._flush_buffer.zero_()
        self.sync()
        return True


@register
class TorchBackend(Backend):
    """PyTorch ``F.conv2d``: oneDNN on the CPU, cuDNN (TF32 off) on a CUDA GPU."""

    name = "torch"
    description = "PyTorch F.conv2d: oneDNN on CPU, cuDNN (TF32 off) on GPU (optional extra)"

    def __init__(self):
        self._torch = None
        self._reason: str | None = None
        self._checked = False

    def _load(self):
        if not self._checked:
            self._checked = True
            try:
                import torch
            except Exception as exc:  # ImportError, or a broken install
                self._reason = f"torch does not import ({type(exc).__name__}: {exc}); install the 'torch' extra"
            else:
                self._torch = torch
                if torch.cuda.is_available():
                    torch.backends.cudnn.allow_tf32 = False
                    torch.backends.cuda.matmul.allow_tf32 = False
        return self._torch

    @property
    def device(self) -> str:  # type: ignore[override]
        """"cuda" when torch sees a GPU, else "cpu" (decided on first use, not at import)."""
        torch = self._load()
        return "cuda" if torch is not None and torch.cuda.is_available() else "cpu"

    def unavailable_reason(self) -> str | None:
        self._load()
        return self._reason

    def prepare(self, x, w, spec):
        torch = self._load()
        if torch is None:
            raise RuntimeError(f"backend 'torch' is unavailable: {self._reason}")
        return TorchPrepared(torch, self.device, x, w, spec)
