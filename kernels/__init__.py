"""convbench kernels: interchangeable 2-D convolution backends behind one interface.

>>> import numpy as np, kernels
>>> x = np.ones((1, 3, 5, 5), np.float32); w = np.ones((2, 3, 3, 3), np.float32)
>>> kernels.conv2d(x, w, padding="same", backend="numpy").shape
(1, 2, 5, 5)

Layout NCHW, weights (F, C, k, k). This package knows nothing of timing,
tables or plots (that is ``harness``).
"""
from __future__ import annotations

import numpy as np

from .numba_cache import ensure_cache_dir

ensure_cache_dir()  # before any backend imports numba (a read-only install with no writable HOME)

# Importing the built-in backend modules registers them, in this order.
from . import naive  # noqa: F401,I001
from . import numpy_gemm  # noqa: F401
from . import numba_cpu  # noqa: F401
from . import numba_cuda  # noqa: F401
from . import torch_backend  # noqa: F401
from .backend import Backend, Prepared, check_flop_limit
from .reference import error_margin, max_abs_error, reference_conv2d, tolerance
from .registry import available_backends, default_backends, get_backend, list_backends, register, unregister
from .spec import (SUPPORTED_DTYPES, ConvSpec, ShapeOverflowError, native_byte_order, padded_input, resolve_padding,
                   validate)

__all__ = [
    "Backend",
    "ConvSpec",
    "Prepared",
    "SUPPORTED_DTYPES",
    "ShapeOverflowError",
    "available_backends",
    "conv2d",
    "default_backends",
    "get_backend",
    "list_backends",
    "native_byte_order",
    "error_margin",
    "max_abs_error",
    "padded_input",
    "reference_conv2d",
    "register",
    "resolve_padding",
    "tolerance",
    "unregister",
    "validate",
]


def conv2d(x: np.ndarray, w: np.ndarray, *, stride: int = 1, padding=0, backend: str = "numpy") -> np.ndarray:
    """2-D convolution (cross-correlation, as in deep learning) of NCHW ``x`` with (F, C, k, k) ``w``.

    Args:
        x: input, shape (N, C, H, W), float32 or float64, any memory layout.
        w: weights, shape (F, C, k, k), same dtype as ``x``.
        stride: int >= 1, the same in both spatial dimensions.
        padding: int >= 0 zero-padding on every side, or ``"same"`` (odd k only).
        backend: a name from :func:`list_backends`.

    Returns:
        A new array of shape (N, F, Ho, Wo), ``Ho = (H + 2*padding - k) // stride + 1``,
        with the dtype of ``x``.

    Raises:
        TypeError / ValueError: a malformed call (the message names the argument),
            an unknown backend name, or a call bigger than the backend's ``max_flops_per_call``.
        RuntimeError: the backend is registered but unavailable on this machine.
    """
    impl = get_backend(backend)
    spec = validate(x, w, stride, padding)
    reason = impl.unavailable_reason()
    if reason is not None:
        raise RuntimeError(f"backend {backend!r} is unavailable: {reason}")
    if spec.N == 0:
        return np.zeros(spec.out_shape, dtype=spec.dtype)
    check_flop_limit(f"backend {backend!r}", impl.max_flops_per_call(), spec.flops)
    x, w = native_byte_order(x), native_byte_order(w)  # once, here: no backend sees a byte-swapped array
    prepared = impl.prepare(x, w, spec)
    prepared()
    prepared.sync()
    return prepared.result()


# Two convolutions in a row (reduce, then convolve): kernels.chain, kernels.chain_backend (numba-cpu-fused,
# registered by kernels.numba_cpu, is one).
from .chain import ChainSpec, chain_tolerance, reference_chain, validate_chain  # noqa: E402
from .chain_backend import (ChainBackend, available_chain_backends, conv2d_chain, get_chain_backend,  # noqa: E402
                            list_chain_backends, list_fused_backends, register_chain, unregister_chain)

__all__ += ["ChainBackend", "ChainSpec", "available_chain_backends", "chain_tolerance", "conv2d_chain",
            "get_chain_backend", "list_chain_backends", "list_fused_backends", "reference_chain", "register_chain",
            "unregister_chain", "validate_chain"]
