"""Chains (reduce, then convolve): every chain backend against the float64 reference_chain.

Fused (numba-cpu-fused) and unfused compositions of numpy, numba-cpu and naive (torch
where it imports) on fixed Inception-like and odd cases, non-contiguous inputs, band
splits the machine would not choose, hypothesis-generated shapes, plus ChainSpec
arithmetic, the registry and validation messages. Nothing here is timed.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import kernels
from kernels.numba_cpu.fused import FusedPrepared

pytestmark = pytest.mark.xdist_group("numba_compile")  # each kernel version compiled once, on one worker

CHAIN_BACKENDS = ["numba-cpu-fused", "numpy", "numba-cpu"]
if kernels.get_backend("torch").unavailable_reason() is None:
    CHAIN_BACKENDS.append("torch")

# (label, N, C, H, W, C_red, F, k, stride_reduce, padding_reduce, stride, padding, dtype)
FIXED = [
    ("3a-5x5-shrunk", 2, 24, 14, 14, 4, 8, 5, 1, 0, 1, "same", "float32"),
    ("3a-3x3-shrunk", 1, 24, 14, 14, 12, 16, 3, 1, 0, 1, "same", "float32"),
    ("odd-stride2-pad1", 2, 7, 13, 11, 3, 17, 3, 1, 0, 2, 1, "float32"),
    ("k1", 1, 5, 13, 11, 3, 17, 1, 1, 0, 1, 0, "float32"),
    ("k1-stride3", 1, 4, 13, 11, 3, 5, 1, 1, 0, 3, 0, "float64"),
    ("k3-stride4-skips-rows", 1, 4, 13, 11, 3, 5, 3, 1, 0, 4, 1, "float32"),
    ("k5-pad2-stride2-f64", 2, 6, 13, 11, 3, 17, 5, 1, 0, 2, 2, "float64"),
    ("k7-valid", 1, 5, 13, 11, 3, 17, 7, 1, 0, 1, 0, "float32"),
    ("k7-same-f64", 1, 5, 13, 11, 3, 4, 7, 1, 0, 1, "same", "float64"),
    ("k5-pad0", 1, 9, 13, 11, 5, 6, 5, 1, 0, 1, 0, "float32"),
    ("reduce-stride2-pad1", 2, 6, 13, 11, 3, 5, 3, 2, 1, 1, 1, "float32"),
    ("reduce-pad2", 1, 6, 9, 7, 4, 3, 5, 1, 2, 1, 0, "float64"),
    ("kernel==reduced", 1, 6, 5, 5, 2, 3, 5, 1, 0, 1, 0, "float32"),
    ("C_red=1-F=1", 2, 3, 8, 9, 1, 1, 3, 1, 0, 1, 1, "float32"),
    ("wide-reduce-odd-blocks", 2, 10, 9, 7, 40, 37, 3, 1, 1, 1, 1, "float32"),  # 3 vector blocks of C_red
    ("wide-reduce-pairs-f64", 1, 7, 11, 5, 32, 9, 5, 2, 1, 1, 2, "float64"),
]


def make_chain(rng, N, C, H, W, CR, F, k, dtype, k1=1):
    """Uniform(-1, 1) input and both weights."""
    x = rng.uniform(-1, 1, (N, C, H, W)).astype(dtype)
    w1 = rng.uniform(-1, 1, (CR, C, k1, k1)).astype(dtype)
    w2 = rng.uniform(-1, 1, (F, CR, k, k)).astype(dtype)
    return x, w1, w2


def check_chain(backend, x, w1, w2, **kw):
    """Run ``backend`` and assert shape, dtype and error within :func:`kernels.chain_tolerance`."""
    spec = kernels.validate_chain(x, w1, w2, **kw)
    out = kernels.conv2d_chain(x, w1, w2, backend=backend, **kw)
    ref = kernels.reference_chain(x, w1, w2, spec)
    assert out.shape == spec.out_shape and out.dtype == x.dtype
    margin, tol = kernels.error_margin(out, ref, kernels.chain_tolerance(x, w1, w2, spec))
    assert margin <= 1.0, f"{backend}: error {margin:.3g}x the per-element bound ({tol:.3g}) for {spec}"


@pytest.mark.parametrize("backend", CHAIN_BACKENDS)
@pytest.mark.parametrize("case", FIXED, ids=[c[0] for c in FIXED])
def test_fixed_cases(backend, case, rng):
    _, N, C, H, W, CR, F, k, s1, p1, s, p, dtype = case
    x, w1, w2 = make_chain(rng, N, C, H, W, CR, F, k, dtype)
    check_chain(backend, x, w1, w2, stride_reduce=s1, padding_reduce=p1, stride=s, padding=p)


def test_naive_unfused_small(rng):
    x, w1, w2 = make_chain(rng, 1, 3, 6, 5, 2, 3, 3, "float64")
    check_chain("naive", x, w1, w2, padding=1)


@pytest.mark.parametrize("backend", ["numba-cpu-fused", "numba-cpu"])
def test_real_inception_3a_5x5(backend, rng):
    x, w1, w2 = make_chain(rng, 1, 192, 28, 28, 16, 32, 5, "float32")
    check_chain(backend, x, w1, w2, padding="same")


@pytest.mark.parametrize("backend", CHAIN_BACKENDS)
def test_non_contiguous_inputs(backend, rng):
    big = rng.uniform(-1, 1, (2, 14, 26, 11)).astype(np.float32)
    x = big[:, ::2, ::2, :]  # (2, 7, 13, 11), strided view
    w1 = np.asfortranarray(rng.uniform(-1, 1, (3, 7, 1, 1)).astype(np.float32))
    w2 = rng.uniform(-1, 1, (5, 5, 6, 17)).astype(np.float32).transpose(3, 2, 0, 1)[:, ::2]  # (17, 3, 5, 5) view
    assert not (x.flags.c_contiguous or w2.flags.c_contiguous)
    check_chain(backend, x, w1, w2, stride=2, padding=2)


@pytest.mark.parametrize("threads", [1, 2, 3, 7, 64])
@pytest.mark.parametrize("N, stride, stride_reduce, padding_reduce", [(1, 1, 1, 0), (2, 2, 1, 0), (1, 3, 2, 1)])
def test_fused_band_splits(threads, N, stride, stride_reduce, padding_reduce, rng):
    """Bands of every height (1-row bands to one band per image) give the same answer."""
    x, w1, w2 = make_chain(rng, N, 6, 13, 11, 3, 5, 5, "float32")
    spec = kernels.validate_chain(x, w1, w2, stride=stride, padding=2, stride_reduce=stride_reduce,
                                  padding_reduce=padding_reduce)
    prepared = FusedPrepared(x, w1, w2, spec, threads)
    ref = kernels.reference_chain(x, w1, w2, spec)
    assert kernels.error_margin(prepared.result(), ref, kernels.chain_tolerance(x, w1, w2, spec))[0] <= 1.0
    prepared()  # a second call reuses the scratch and gives the same output
    assert np.array_equal(prepared.result(), prepared.result())


def test_empty_batch(rng):
    x, w1, w2 = make_chain(rng, 0, 4, 6, 6, 2, 3, 3, "float32")
    out = kernels.conv2d_chain(x, w1, w2, padding=1)
    assert out.shape == (0, 3, 6, 6) and out.dtype == np.float32


@st.composite
def chain_cases(draw):
    """Small random chains: shapes, reduce stride/padding, conv k/stride/padding, dtype."""
    N, C, H, W = draw(st.integers(1, 2)), draw(st.integers(1, 9)), draw(st.integers(1, 12)), draw(st.integers(1, 12))
    CR, F, k = draw(st.integers(1, 6)), draw(st.integers(1, 9)), draw(st.sampled_from([1, 3, 5]))
    s1, p1, s = draw(st.integers(1, 2)), draw(st.integers(0, 1)), draw(st.integers(1, 3))
    p = draw(st.one_of(st.just("same"), st.integers(0, k // 2)))
    dtype = draw(st.sampled_from(["float32", "float64"]))
    seed = draw(st.integers(0, 2**31))
    return (N, C, H, W, CR, F, k, s1, p1, s, p, dtype, seed)


@pytest.mark.parametrize("backend", ["numba-cpu-fused", "numpy", "numba-cpu"])
def test_hypothesis_chains(backend):
    """Random chains through conv2d_chain (the fused backend runs its simd kernel)."""
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(chain_cases())
    def run(case):
        N, C, H, W, CR, F, k, s1, p1, s, p, dtype, seed = case
        x, w1, w2 = make_chain(np.random.default_rng(seed), N, C, H, W, CR, F, k, dtype)
        kw = dict(stride_reduce=s1, padding_reduce=p1, stride=s, padding=p)
        try:
            kernels.validate_chain(x, w1, w2, **kw)
        except ValueError:
            assume(False)  # kernel larger than the padded intermediate
        check_chain(backend, x, w1, w2, **kw)

    run()


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(chain_cases(), st.integers(1, 5))
def test_hypothesis_fused_band_splits(case, threads):
    """Random chains through the fused kernel at random band splits."""
    N, C, H, W, CR, F, k, s1, p1, s, p, dtype, seed = case
    x, w1, w2 = make_chain(np.random.default_rng(seed), N, C, H, W, CR, F, k, dtype)
    try:
        spec = kernels.validate_chain(x, w1, w2, stride_reduce=s1, padding_reduce=p1, stride=s, padding=p)
    except ValueError:
        assume(False)
    out = FusedPrepared(x, w1, w2, spec, threads).result()
    ref = kernels.reference_chain(x, w1, w2, spec)
    assert kernels.error_margin(out, ref, kernels.chain_tolerance(x, w1, w2, spec))[0] <= 1.0


def test_chainspec_inception_3a_5x5():
    """GoogLeNet 3a 5x5 branch: 12.4 M MACs with the reduce vs 120.4 M direct (STYLE.md #10)."""
    x = np.empty((1, 192, 28, 28), np.float32)
    spec = kernels.validate_chain(x, np.empty((16, 192, 1, 1), np.float32), np.empty((32, 16, 5, 5), np.float32),
                                  padding="same")
    assert spec.mid_shape == (1, 16, 28, 28) and spec.out_shape == (1, 32, 28, 28)
    assert spec.flops == 2 * (192 * 16 * 784 + 16 * 32 * 25 * 784) == 2 * 12_443_648
    assert spec.bytes == 4 * (192 * 784 + 16 * 192 + 32 * 16 * 25 + 32 * 784)
    assert spec.unfused_bytes == spec.bytes + 2 * 4 * 16 * 784
    direct = kernels.validate(x, np.empty((32, 192, 5, 5), np.float32), 1, "same")
    assert round(direct.flops / spec.flops, 2) == 9.68


def test_chainspec_rejects_mismatched_stages():
    r = kernels.ConvSpec(N=1, C=8, H=6, W=6, F=4, k=1)
    with pytest.raises(ValueError, match="not the reduce stage's output"):
        kernels.ChainSpec(reduce=r, conv=kernels.ConvSpec(N=1, C=5, H=6, W=6, F=2, k=3))
    with pytest.raises(TypeError):
        kernels.ChainSpec(reduce=r, conv=None)


def test_registry():
    names = kernels.list_chain_backends()
    assert names[0] == "numba-cpu-fused" and set(kernels.list_backends()) <= set(names)
    assert "numba-cpu-fused" in kernels.available_chain_backends()
    unfused = kernels.get_chain_backend("numba-cpu")
    assert isinstance(unfused, kernels.ChainBackend) and unfused.name == "numba-cpu" and unfused.device == "cpu"
    for name in kernels.list_backends():  # unfused chains answer for their convolution backend
        conv, chain = kernels.get_backend(name), kernels.get_chain_backend(name)
        assert chain.unavailable_reason() == conv.unavailable_reason()
        assert chain.timing_unsupported_reason() == conv.timing_unsupported_reason()
        assert chain.max_flops_per_call() == conv.max_flops_per_call()
    with pytest.raises(ValueError, match="known chain backends: numba-cpu-fused"):
        kernels.get_chain_backend("no-such")
    with pytest.raises(ValueError, match="already taken"):
        kernels.register_chain(type(kernels.get_chain_backend("numba-cpu-fused")))
    with pytest.raises(TypeError):
        kernels.register_chain(object)


@pytest.mark.parametrize("kwargs, w1_shape, w2_shape, w2_dtype, error, pattern", [
    ({}, (16, 192, 1, 1), (32, 17, 5, 5), "float32", ValueError,
     r"w_conv has C=17 but w_reduce produces F=16 channels"),
    ({}, (16, 191, 1, 1), (32, 16, 5, 5), "float32", ValueError, r"w_reduce has C=191"),
    ({}, (16, 192, 1, 1), (32, 16, 5, 5), "float64", TypeError, r"w_conv\.dtype=float64"),
    ({}, (16, 192, 1, 1), (32, 16, 29, 29), "float32", ValueError, r"w_conv kernel size k=29 is larger"),
    ({"stride_reduce": 0}, (16, 192, 1, 1), (32, 16, 5, 5), "float32", ValueError, r"stride_reduce must be"),
    ({"padding_reduce": "same"}, (16, 192, 2, 2), (32, 16, 5, 5), "float32", ValueError,
     r"padding_reduce='same' needs an odd kernel"),
    ({"stride": 1.5}, (16, 192, 1, 1), (32, 16, 5, 5), "float32", TypeError, r"^stride must be an int"),
    ({"padding": -1}, (16, 192, 1, 1), (32, 16, 5, 5), "float32", ValueError, r"^padding must be"),
    ({}, (16, 192, 1, 1), (32, 16, 5), "float32", ValueError, r"w_conv must be a 4-D"),
])
def test_validation_errors_name_the_argument(kwargs, w1_shape, w2_shape, w2_dtype, error, pattern):
    x = np.zeros((1, 192, 28, 28), np.float32)
    w1, w2 = np.zeros(w1_shape, np.float32), np.zeros(w2_shape, w2_dtype)
    with pytest.raises(error, match=pattern):
        kernels.validate_chain(x, w1, w2, **kwargs)
    with pytest.raises(error, match=pattern):
        kernels.conv2d_chain(x, w1, w2, **kwargs)


def test_fused_needs_a_1x1_reduce(rng):
    x, w1, w2 = make_chain(rng, 1, 4, 8, 8, 3, 2, 3, "float32", k1=3)
    with pytest.raises(ValueError, match="reduce must be 1x1, got k=3"):
        kernels.conv2d_chain(x, w1, w2, padding_reduce=1, padding=1)
    check_chain("numba-cpu", x, w1, w2, padding_reduce=1, padding=1)  # unfused runs any reduce
