"""Every registered backend against the independent float64 reference.

Fixed cases cover the corners (1x1, same/valid padding, strides 2 and 3, H != W,
C = 1, F = 1, N = 0, kernel == input, both dtypes, non-contiguous inputs);
hypothesis explores shapes nobody wrote down. numba-cuda runs here under the
CUDA simulator (see conftest.py), on shapes small enough for it.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kernels
from tests.conftest import make_inputs

pytestmark = pytest.mark.xdist_group("numba_compile")  # each kernel version compiled once, on one worker

BACKENDS = kernels.list_backends()

# (label, N, C, H, W, F, k, stride, padding)
FIXED_CASES = [
    ("1x1", 2, 5, 6, 7, 4, 1, 1, 0),
    ("1x1-edge-tiles", 1, 19, 3, 7, 17, 1, 1, 0),
    ("1x1-stride2", 1, 3, 7, 6, 2, 1, 2, 0),
    ("1x1-padded", 1, 2, 4, 5, 3, 1, 1, 1),
    ("3x3-same", 2, 3, 6, 6, 4, 3, 1, "same"),
    ("5x5-valid", 1, 2, 9, 8, 3, 5, 1, 0),
    ("3x3-stride2", 1, 3, 9, 9, 2, 3, 2, 1),
    ("3x3-stride3", 2, 2, 10, 11, 3, 3, 3, 0),
    ("7x7-stride2-pad3", 1, 2, 11, 9, 2, 7, 2, 3),
    ("non-square", 1, 2, 5, 12, 3, 3, 1, 1),
    ("C=1", 2, 1, 6, 6, 3, 3, 1, 0),
    ("F=1", 1, 4, 6, 5, 1, 3, 1, 1),
    ("kernel==input", 2, 3, 5, 5, 2, 5, 1, 0),
    ("even-k", 1, 2, 6, 6, 2, 2, 1, 0),
]


def check_against_reference(backend, x, w, stride, padding):
    """Run ``backend`` and assert shape, dtype and error within the dtype's tolerance."""
    spec = kernels.validate(x, w, stride, padding)
    out = kernels.conv2d(x, w, stride=stride, padding=padding, backend=backend)
    ref = kernels.reference_conv2d(x, w, spec)
    assert isinstance(out, np.ndarray)
    assert out.shape == spec.out_shape
    assert out.dtype == x.dtype
    margin, tol = kernels.error_margin(out, ref, kernels.tolerance(x, w, spec))
    assert margin <= 1.0, f"{backend}: error/tolerance {margin:.3g} (tolerance {tol:.3g}) for {spec}"


def skip_if_unusable(backend, flops=0):
    """Skip when the backend is unavailable here or the case is too big for it (naive, simulator)."""
    impl = kernels.get_backend(backend)
    reason = impl.unavailable_reason()
    if reason:
        pytest.skip(reason)
    limit = impl.max_flops_per_call()
    if limit is not None and flops > limit:
        pytest.skip(f"{flops} FLOPs exceed {backend}'s limit {limit:g}")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", FIXED_CASES, ids=[c[0] for c in FIXED_CASES])
@pytest.mark.parametrize("backend", BACKENDS)
def test_fixed_cases(backend, case, dtype, rng):
    _, N, C, H, W, F, k, stride, padding = case
    skip_if_unusable(backend)
    x, w = make_inputs(rng, N, C, H, W, F, k, dtype)
    check_against_reference(backend, x, w, stride, padding)


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_batch_gives_empty_output(backend, rng):
    skip_if_unusable(backend)
    x, w = make_inputs(rng, 0, 3, 6, 6, 4, 3)
    out = kernels.conv2d(x, w, padding=1, backend=backend)
    assert out.shape == (0, 4, 6, 6) and out.dtype == np.float32


@pytest.mark.parametrize("layout", ["channel-slice", "fortran", "transposed-w", "negative-strides"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_non_contiguous_inputs(backend, layout, rng):
    skip_if_unusable(backend)
    x, w = make_inputs(rng, 2, 6, 7, 8, 3, 3, "float64")
    if layout == "channel-slice":
        x = x[:, ::2]
        w = w[:, ::2]
    elif layout == "fortran":
        x = np.asfortranarray(x)
        w = np.asfortranarray(w)
    elif layout == "transposed-w":
        w = np.ascontiguousarray(w.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
    else:
        x = x[:, :, ::-1, ::-1]
    assert not (x.flags.c_contiguous and w.flags.c_contiguous)
    check_against_reference(backend, x, w, 1, 1)


@st.composite
def conv_problems(draw, max_flops):
    """A random valid convolution problem (shape, stride, padding, dtype) under ``max_flops``."""
    k = draw(st.sampled_from([1, 1, 2, 3, 5, 7]))
    stride = draw(st.integers(1, 3))
    padding = draw(st.one_of(st.integers(0, 3), st.just("same"))) if k % 2 else draw(st.integers(0, 3))
    pad = kernels.resolve_padding(padding, k)
    H = draw(st.integers(max(1, k - 2 * pad), 12))
    W = draw(st.integers(max(1, k - 2 * pad), 12))
    N = draw(st.integers(0, 3))
    C = draw(st.integers(1, 20))
    F = draw(st.integers(1, 20))
    dtype = draw(st.sampled_from(["float32", "float64"]))
    stride = min(stride, max(H, W) + 2 * pad)  # larger strides are refused by kernels.validate
    spec = kernels.ConvSpec(N=N, C=C, H=H, W=W, F=F, k=k, stride=stride, padding=pad, dtype=dtype)
    if spec.flops > max_flops:
        C, F, N = 1 + C % 3, 1 + F % 3, min(N, 1)
    seed = draw(st.integers(0, 2**32 - 1))
    return (N, C, H, W, F, k, stride, padding, dtype, seed)


def _hypothesis_test(backend, max_examples, max_flops):
    @settings(max_examples=max_examples, deadline=None, suppress_health_check=list(HealthCheck))
    @given(problem=conv_problems(max_flops))
    def run(problem):
        N, C, H, W, F, k, stride, padding, dtype, seed = problem
        x, w = make_inputs(np.random.default_rng(seed), N, C, H, W, F, k, dtype)
        check_against_reference(backend, x, w, stride, padding)

    run()


@pytest.mark.parametrize("backend", BACKENDS)
def test_hypothesis_shapes(backend):
    skip_if_unusable(backend)
    limit = kernels.get_backend(backend).max_flops_per_call()
    if limit is not None and limit < 1e7:  # simulator: few, small problems
        _hypothesis_test(backend, max_examples=8, max_flops=2e4)
    else:
        _hypothesis_test(backend, max_examples=60, max_flops=2e6)
