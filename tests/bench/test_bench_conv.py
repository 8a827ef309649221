"""pytest-benchmark suite: every backend on representative layers, prepare() outside the timed region.

Run for real with ``pytest tests/bench --benchmark-only`` (see README "Regression runs"); in a
plain ``pytest`` run benchmarks are disabled and each body runs once as a correctness smoke test.
"""
from __future__ import annotations

import numpy as np
import pytest

import kernels

# (id, N, C, H, W, F, k, stride, padding): a 1x1 and a 3x3 from Inception 3a, a strided ResNet-50 3x3,
# and a tiny layer every backend (naive included) can run.
LAYERS = [
    ("3a-1x1", 1, 192, 28, 28, 64, 1, 1, 0),
    ("3a-3x3", 1, 96, 28, 28, 128, 3, 1, 1),
    ("r50-conv3-3x3s2", 1, 128, 56, 56, 128, 3, 2, 1),
    ("tiny-3x3", 1, 8, 12, 12, 8, 3, 1, 1),
]
#: Backends that only run the tiny layer (pure Python).
SMALL_ONLY = {"naive"}


def _params():
    for backend in kernels.list_backends():
        for layer in LAYERS:
            if backend in SMALL_ONLY and not layer[0].startswith("tiny"):
                continue
            yield pytest.param(backend, layer, id=f"{backend}-{layer[0]}")


@pytest.mark.parametrize("backend, layer", list(_params()))
def test_conv2d(benchmark, backend, layer):
    label, N, C, H, W, F, k, stride, padding = layer
    impl = kernels.get_backend(backend)
    reason = impl.unavailable_reason()
    if reason:
        pytest.skip(reason)
    not_timed = impl.timing_unsupported_reason()
    if not_timed and not benchmark.disabled:
        pytest.skip(not_timed)  # e.g. the CUDA simulator: never benchmarked
    spec = kernels.ConvSpec(N=N, C=C, H=H, W=W, F=F, k=k, stride=stride, padding=padding)
    limit = impl.max_flops_per_call()
    if limit is not None and spec.flops > limit:
        pytest.skip(f"{spec.flops:.3g} FLOPs exceed {backend}'s limit")
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, spec.x_shape).astype(spec.dtype)
    w = rng.uniform(-1, 1, spec.w_shape).astype(spec.dtype)
    prepared = impl.prepare(x, w, spec)  # allocation, layout, copies, JIT: not timed

    def run():
        prepared()
        prepared.sync()

    run()  # first call (JIT for numba) outside the timed rounds
    slow = backend in SMALL_ONLY
    benchmark.extra_info.update(backend=backend, layer=label, flops=spec.flops, bytes=spec.bytes,
                                dtype=spec.dtype, device=impl.device)
    benchmark.pedantic(run, rounds=5 if slow else 30, iterations=1, warmup_rounds=1 if slow else 3)
    if benchmark.stats is not None:
        median_s = benchmark.stats.stats.median
        benchmark.extra_info["gflops"] = spec.flops / median_s / 1e9
    ref = kernels.reference_conv2d(x, w, spec)
    assert kernels.error_margin(prepared.result(), ref, kernels.tolerance(x, w, spec))[0] <= 1.0
