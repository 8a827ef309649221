"""Every malformed call is refused by every backend with a message naming the argument."""
from __future__ import annotations

import numpy as np
import pytest

import kernels

BACKENDS = kernels.list_backends()
X = np.zeros((1, 3, 8, 8), np.float32)
W3 = np.zeros((4, 3, 3, 3), np.float32)

# (id, x, w, kwargs, exception, message pattern)
BAD_CALLS = [
    ("x-not-array", X.tolist(), W3, {}, TypeError, r"x must be a numpy.ndarray"),
    ("w-not-array", X, "w", {}, TypeError, r"w must be a numpy.ndarray"),
    ("x-3d", X[0], W3, {}, ValueError, r"x must be 4-D"),
    ("w-5d", X, W3[None], {}, ValueError, r"w must be 4-D"),
    ("x-int", X.astype(np.int32), W3, {}, TypeError, r"x.dtype must be float32 or float64"),
    ("float16", X.astype(np.float16), W3.astype(np.float16), {}, TypeError, r"x.dtype"),
    ("dtype-mismatch", X, W3.astype(np.float64), {}, TypeError, r"share one dtype"),
    ("stride-0", X, W3, {"stride": 0}, ValueError, r"stride must be an int >= 1, got 0"),
    ("stride-float", X, W3, {"stride": 1.5}, TypeError, r"stride must be an int"),
    ("stride-bool", X, W3, {"stride": True}, TypeError, r"stride must be an int"),
    ("padding-negative", X, W3, {"padding": -1}, ValueError, r"padding must be .*got -1"),
    ("padding-string", X, W3, {"padding": "valid"}, ValueError, r"padding must be .*'valid'"),
    ("padding-float", X, W3, {"padding": 1.0}, TypeError, r"padding must be"),
    ("same-even-k", X, np.zeros((4, 3, 2, 2), np.float32), {"padding": "same"}, ValueError, r"odd kernel"),
    ("channels", X, np.zeros((4, 2, 3, 3), np.float32), {}, ValueError, r"channels differ.*C=3.*C=2"),
    ("masked-x", np.ma.masked_array(X, mask=X > 0), W3, {}, TypeError, r"x is a masked array: fill it first"),
    ("padding-absurd", X, W3, {"padding": 50_000}, ValueError, r"padding=50000 makes each padded input plane"),
    ("padding-huge", X, W3, {"padding": 10**12}, ValueError, r"padding=1000000000000 makes"),
    ("kernel-too-big", X, np.zeros((4, 3, 9, 9), np.float32), {}, ValueError, r"k=9 is larger than the padded input"),
    ("non-square-kernel", X, np.zeros((4, 3, 3, 1), np.float32), {}, ValueError, r"square kernels"),
    ("C-zero", np.zeros((1, 0, 8, 8), np.float32), np.zeros((4, 0, 3, 3), np.float32), {}, ValueError,
     r"C must be >= 1"),
    ("H-zero", np.zeros((1, 3, 0, 8), np.float32), W3, {"padding": 2}, ValueError, r"H must be >= 1"),
    ("F-zero", X, np.zeros((0, 3, 3, 3), np.float32), {}, ValueError, r"F must be >= 1"),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bad", BAD_CALLS, ids=[b[0] for b in BAD_CALLS])
def test_bad_calls_are_refused(backend, bad):
    _, x, w, kwargs, exc, pattern = bad
    with pytest.raises(exc, match=pattern):
        kernels.conv2d(x, w, backend=backend, **kwargs)


def test_unknown_backend_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown backend 'cudnn'.*numpy"):
        kernels.conv2d(X, W3, backend="cudnn")


def test_backend_name_must_be_a_string():
    with pytest.raises(TypeError, match="backend must be a str"):
        kernels.get_backend(3)


def test_validation_happens_before_backend_work(monkeypatch):
    """No backend re-validates: a bad call never reaches prepare()."""
    calls = []
    impl = kernels.get_backend("numpy")
    monkeypatch.setattr(impl, "prepare", lambda *a: calls.append(a))
    with pytest.raises(ValueError):
        kernels.conv2d(X, W3, stride=0, backend="numpy")
    assert calls == []


def test_unavailable_backend_raises_runtime_error(monkeypatch):
    impl = kernels.get_backend("numpy")
    monkeypatch.setattr(impl, "unavailable_reason", lambda: "no BLAS today")
    with pytest.raises(RuntimeError, match="no BLAS today"):
        kernels.conv2d(X, W3, backend="numpy")


def test_a_big_endian_input_is_its_dtype_and_gives_the_same_answer():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((1, 3, 6, 6)).astype(np.float32), rng.standard_normal((2, 3, 3, 3)).astype(np.float32)
    out = kernels.conv2d(x.astype(">f4"), w.astype(">f4"), padding=1, backend="numpy")
    np.testing.assert_array_equal(out, kernels.conv2d(x, w, padding=1, backend="numpy"))
    assert kernels.validate(x.astype(">f4"), w).dtype == "float32"


def test_conv2d_chain_refuses_a_call_over_the_backends_flop_limit():
    x, w1, w2 = (np.ones(s, np.float32) for s in ((1, 64, 32, 32), (64, 64, 1, 1), (64, 64, 3, 3)))
    with pytest.raises(ValueError, match="chain backend 'naive' would take too long"):
        kernels.conv2d_chain(x, w1, w2, padding=1, backend="naive")  # 8.4e7 FLOP: minutes in pure Python


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(run_id=5), TypeError, "run_id must be a str"),          # was a ValueError ("invalid run id")
    (dict(resume=5), TypeError, "resume must be a str"),          # was taken as the run id '5'
    (dict(axes={"N": []}), ValueError, "axes['N'] is empty"),     # was worded for the CLI: "--axis 'N='"
    (dict(axes={"N": [[1, 2]]}), TypeError, "flat sequence"),     # was "axis N: '[1' is not an int"
])
def test_sweep_names_a_bad_argument_as_python_would(tmp_path, kwargs, error, words):
    import harness

    with pytest.raises(error) as info:
        harness.sweep("smoke", results_dir=tmp_path, **kwargs)
    assert words in str(info.value)
    assert not any(tmp_path.iterdir())  # refused before anything is written


def test_a_zero_dimensional_array_is_one_axis_value():
    import numpy as np

    from harness.api_args import axis_settings

    assert axis_settings({"k": [np.array(3)], "N": np.array([1, 2])}) == [["k", [3]], ["N", [1, 2]]]
