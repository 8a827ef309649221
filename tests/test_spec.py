"""ConvSpec arithmetic against hand-computed GoogLeNet numbers, and the registry's rules."""
from __future__ import annotations

import pytest

import kernels
from kernels import Backend, ConvSpec


def test_googlenet_3a_5x5_branch_flops():
    direct = ConvSpec(N=1, C=192, H=28, W=28, F=32, k=5, padding=2)
    reduce = ConvSpec(N=1, C=192, H=28, W=28, F=16, k=1)
    conv = ConvSpec(N=1, C=16, H=28, W=28, F=32, k=5, padding=2)
    assert direct.macs == 120_422_400
    assert direct.flops == 2 * 120_422_400
    assert reduce.flops + conv.flops == 2 * (2_408_448 + 10_035_200)
    assert round(direct.flops / (reduce.flops + conv.flops), 2) == 9.68


def test_output_size_bytes_and_intensity():
    spec = ConvSpec(N=2, C=3, H=10, W=7, F=4, k=3, stride=2, padding=1, dtype="float64")
    assert (spec.Ho, spec.Wo) == (5, 4)
    assert spec.out_shape == (2, 4, 5, 4)
    assert spec.bytes == 8 * (2 * 3 * 10 * 7 + 4 * 3 * 9 + 2 * 4 * 5 * 4)
    assert spec.arithmetic_intensity == pytest.approx(spec.flops / spec.bytes)
    assert not spec.is_pointwise and ConvSpec(1, 1, 1, 1, 1, 1).is_pointwise


def test_spec_rejects_impossible_shapes():
    with pytest.raises(ValueError, match="larger than the padded input"):
        ConvSpec(N=1, C=1, H=2, W=2, F=1, k=3)
    with pytest.raises(TypeError, match="ConvSpec.C must be an int"):
        ConvSpec(N=1, C=1.0, H=2, W=2, F=1, k=1)
    with pytest.raises(ValueError, match="dtype"):
        ConvSpec(N=1, C=1, H=2, W=2, F=1, k=1, dtype="int8")


def test_same_padding_resolves_to_half_kernel():
    assert [kernels.resolve_padding("same", k) for k in (1, 3, 5, 7)] == [0, 1, 2, 3]


def test_registry_lists_builtins_in_order():
    assert kernels.default_backends()[:5] == ["naive", "numpy", "numba-cpu", "numba-cuda", "torch"]
    assert "numba-cpu-direct" in kernels.list_backends()
    assert "numba-cpu-direct" not in kernels.default_backends()  # a variant: runs only when named
    assert set(kernels.available_backends()) <= set(kernels.list_backends())


def test_register_rejects_duplicates_and_incomplete_classes():
    class Dup(Backend):
        name = "numpy"

        def prepare(self, x, w, spec):
            raise NotImplementedError

    with pytest.raises(ValueError, match="already registered"):
        kernels.register(Dup)

    class NoName(Backend):
        def prepare(self, x, w, spec):
            raise NotImplementedError

    with pytest.raises(ValueError, match="non-empty string attribute 'name'"):
        kernels.register(NoName)

    for bad in ("a,b", " sp ", "tab\there", "-x", "x" * 65, "\u00e9t\u00e9"):  # --backends could never select them
        class Unselectable(Backend):
            name = bad

            def prepare(self, x, w, spec):
                raise NotImplementedError

        with pytest.raises(ValueError, match="cannot be named in --backends"):
            kernels.register(Unselectable)
        assert bad not in kernels.list_backends()

    class NotABackend:
        name = "not-a-backend"

    with pytest.raises(TypeError, match="lacks required method"):
        kernels.register(NotABackend)
    assert "not-a-backend" not in kernels.list_backends()


def test_register_and_unregister_a_new_backend():
    @kernels.register
    class Tmp(Backend):
        name = "tmp-test"

        def prepare(self, x, w, spec):
            return kernels.get_backend("numpy").prepare(x, w, spec)

    try:
        assert "tmp-test" in kernels.list_backends()
        assert kernels.get_backend("tmp-test").device == "cpu"
    finally:
        kernels.unregister("tmp-test")
    assert "tmp-test" not in kernels.list_backends()
