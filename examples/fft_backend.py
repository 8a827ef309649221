"""An example convbench plugin: convolution through the FFT (``numpy.fft``).

Run it beside the built-in backends with::

    python -m harness sweep --plugin examples/fft_backend.py --backends numpy,numba-cpu,fft

Cross-correlation is a pointwise product in the frequency domain:
``out = irfft2(rfft2(xpad) * conj(rfft2(w, s=xpad.shape)))``, summed over input
channels, then cropped to the valid region and subsampled by the stride. Its
cost grows with the image size, not with k*k, so it is slow for 1x1 and can win
for large kernels; the harness shows where the crossover is.
"""
from __future__ import annotations

import numpy as np

import kernels


class FFTPrepared(kernels.Prepared):
    """Padded input buffer and the weights' spectrum (computed once, in prepare)."""

    def __init__(self, x: np.ndarray, w: np.ndarray, spec: kernels.ConvSpec):
        self.spec = spec
        self.xp = kernels.padded_input(x, spec)
        self.shape = self.xp.shape[2:]
        # conj(FFT(w)) turns the FFT's convolution into the cross-correlation conv2d means
        self.w_hat = np.conj(np.fft.rfft2(w, s=self.shape))
        self.out = None

    def __call__(self) -> None:
        s, spec = self.spec.stride, self.spec
        x_hat = np.fft.rfft2(self.xp)
        y_hat = np.einsum("nchw,fchw->nfhw", x_hat, self.w_hat, optimize=True)
        full = np.fft.irfft2(y_hat, s=self.shape)
        self.out = full[:, :, : (spec.Ho - 1) * s + 1 : s, : (spec.Wo - 1) * s + 1 : s].astype(spec.dtype)

    def result(self) -> np.ndarray:
        return self.out


@kernels.register
class FFTBackend(kernels.Backend):
    """Convolution by FFT: rfft2 of the padded input, product with the weights' spectrum, irfft2."""

    name = "fft"
    device = "cpu"
    description = "example plugin: FFT convolution with numpy.fft (examples/fft_backend.py)"

    def prepare(self, x, w, spec):
        return FFTPrepared(x, w, spec)
