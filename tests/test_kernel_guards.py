"""kernels refuses what it cannot do in reasonable time or memory, and accepts any byte order."""
from __future__ import annotations

import numpy as np
import pytest

import kernels
from kernels import numba_cache


def test_absurd_strides_are_refused_with_a_value_error():
    x, w = np.ones((1, 2, 5, 5), np.float32), np.ones((3, 2, 3, 3), np.float32)
    for stride in (2**70, 8):
        with pytest.raises(ValueError, match="stride must be an int between 1 and the padded input size 5"):
            kernels.validate(x, w, stride, 0)
    assert kernels.validate(x, w, 5, 0).Ho == 1
    with pytest.raises(ValueError, match="ConvSpec.stride"):
        kernels.ConvSpec(N=1, C=1, H=4, W=4, F=1, k=1, stride=2**40)


@pytest.mark.parametrize("backend", ["numpy", "numba-cpu", "naive"])
def test_big_endian_inputs_give_the_native_answer(backend, rng):
    x = rng.uniform(-1, 1, (1, 3, 6, 5)).astype(np.float32)
    w = rng.uniform(-1, 1, (2, 3, 3, 3)).astype(np.float32)
    expected = kernels.conv2d(x, w, padding=1, backend=backend)
    out = kernels.conv2d(x.astype(">f4"), w.astype(">f4"), padding=1, backend=backend)
    assert out.dtype.isnative
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)


def test_conv2d_honours_max_flops_per_call():
    x, w = np.zeros((8, 64, 56, 56), np.float32), np.zeros((64, 64, 3, 3), np.float32)
    with pytest.raises(ValueError, match="would take too long.*max_flops_per_call"):
        kernels.conv2d(x, w, padding=1, backend="naive")


def test_numba_cache_falls_back_to_a_temp_folder_when_nothing_is_writable(monkeypatch, tmp_path):
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setattr(numba_cache, "_writable", lambda folder: False)
    monkeypatch.setattr(numba_cache.tempfile, "gettempdir", lambda: str(tmp_path))
    import numba

    monkeypatch.setattr(numba.config, "CACHE_DIR", numba.config.CACHE_DIR)
    with pytest.warns(RuntimeWarning, match="Numba caches compiled kernels in"):
        folder = numba_cache.ensure_cache_dir()
    assert folder and folder.startswith(str(tmp_path))
    assert numba.config.CACHE_DIR == folder
    monkeypatch.setattr(numba_cache, "_writable", lambda folder: True)
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    assert numba_cache.ensure_cache_dir() is None


def test_tolerance_has_teeth_on_a_c512_3x3_layer(rng):
    spec = kernels.ConvSpec(N=1, C=512, H=7, W=7, F=8, k=3, padding=1)
    x = rng.uniform(-1, 1, spec.x_shape).astype(np.float32)
    w = rng.uniform(-1, 1, spec.w_shape).astype(np.float32)
    ref, tol = kernels.reference_conv2d(x, w, spec), kernels.tolerance(x, w, spec)
    out = kernels.conv2d(x, w, padding=1, backend="numpy")
    assert kernels.error_margin(out, ref, tol)[0] < 0.5
    assert kernels.error_margin(out + np.float32(1e-3), ref, tol)[0] > 1.0
    assert kernels.error_margin(out[:, :4], ref, tol)[0] == np.inf
