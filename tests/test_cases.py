"""Presets, axis parsing and case expansion."""
from __future__ import annotations

import pytest

from harness.cases import build_cases, parse_axis
from harness.layers import Layer
from harness.presets import build_presets, get_preset


def test_parse_axis_values():
    assert parse_axis("k=1,3,3") == ("k", (1, 3))
    assert parse_axis("padding=same,0") == ("padding", ("same", 0))
    assert parse_axis("dtype=float64") == ("dtype", ("float64",))


@pytest.mark.parametrize("text, message", [
    ("Q=1", "unknown axis 'Q'"),
    ("k", "expected NAME=v1,v2"),
    ("k=", "expected NAME=v1,v2"),
    ("k=x", "axis k: 'x' is not an int"),
    ("N=0", "axis N: 0 must be >= 1"),
    ("padding=-1", "axis padding: -1 must be >= 0"),
    ("dtype=float16", "axis dtype: 'float16' is not one of"),
    ("N=1_000", "axis N: '1_000' is not an int"),  # int() takes these; a layer file refuses them
    ("k=\uff13", "is not an int"),
    ("k=\u0661", "is not an int"),
])
def test_parse_axis_errors_name_the_problem(text, message):
    with pytest.raises(ValueError, match=message):
        parse_axis(text)


def test_inception3a_has_both_batches_and_unique_names():
    cases = build_cases(get_preset("inception3a"), default_threads=2)
    assert len(cases) == 16
    assert {c.layer.N for c in cases} == {1, 8}
    assert len({c.name for c in cases}) == 16
    assert "3a 5x5 direct N=8" in {c.name for c in cases}


def test_override_replaces_the_layer_value_and_same_padding_follows_k():
    cases = build_cases(get_preset("smoke"), {"k": (1, 3)}, default_threads=1)
    assert {c.layer.k for c in cases} == {1, 3}
    three = [c for c in cases if c.layer.label == "3x3" and c.layer.k == 3][0]
    assert three.spec.padding == 1 and three.name == "3x3 k=3"


def test_impossible_override_is_kept_for_the_sweep_to_record():
    cases = build_cases(get_preset("smoke"), {"k": (7,)}, default_threads=1)
    with pytest.raises(ValueError):
        [c.spec for c in cases]


def test_a_single_override_value_that_changes_a_layer_is_in_its_name():
    # --axis k=7 named a 7x7 convolution "1x1" (and its failed row too), as if nothing had been overridden
    names = {c.layer.label: c.name for c in build_cases(get_preset("smoke"), {"k": (7,)}, default_threads=1)}
    assert names["1x1"] == "1x1 k=7" and names["3x3"] == "3x3 k=7"
    names = {c.layer.label: c.name for c in build_cases(get_preset("smoke"), {"k": (3,)}, default_threads=1)}
    assert names["1x1"] == "1x1 k=3" and names["3x3"] == "3x3"  # the 3x3 is unchanged: its name too
    both = build_cases(get_preset("smoke"), {"k": (1, 3), "N": (2,)}, default_threads=1)
    assert {"1x1 N=2 k=3", "3x3 k=3"} <= {c.name for c in both}  # axes' own order; smoke's 3x3 already has N=2
    assert [c.name for c in build_cases(get_preset("smoke"), {"dtype": ("float32",)})] == \
        [c.name for c in build_cases(get_preset("smoke"))]  # float32 is what a layer without a dtype is
    assert [c.name for c in build_cases(get_preset("smoke"), {"threads": (2,)})] == \
        [c.name for c in build_cases(get_preset("smoke"))]  # threads are a column of their own


def test_every_preset_builds_valid_specs():
    for preset in build_presets().values():
        for case in build_cases(preset, default_threads=1):
            assert case.spec.flops > 0


def test_reduction_presets_have_complete_branches():
    for name in ("smoke", "inception3a", "inception"):
        preset = get_preset(name)
        assert preset.has_reduction
        branches = {}
        for layer in preset.layers:
            if layer.branch:
                branches.setdefault(layer.branch, set()).add(layer.role)
        assert all(roles == {"direct", "reduce", "conv"} for roles in branches.values())


def test_layer_requires_branch_and_role_together():
    with pytest.raises(ValueError, match="branch and role go together"):
        Layer("x", C=1, H=1, W=1, F=1, k=1, branch="b")


def test_unknown_preset_lists_known_ones():
    with pytest.raises(ValueError, match="unknown preset 'vgg'.*inception3a"):
        get_preset("vgg")


@pytest.mark.parametrize("field, value, message", [
    ("dtype", "float16", "axis dtype: 'float16' is not one of"),  # harness.sweep(dtype=...) skips argparse's choices
    ("axes", [["N", [-1]]], "axis N: -1 must be >= 1"),  # a resumed run's stored axes
    ("axes", [["Q", [1]]], "unknown axis 'Q'"),
])
def test_settings_values_that_skip_the_cli_are_checked_as_axes(field, value, message):
    from harness.plan import resolve_cases
    from harness.settings import SweepSettings

    with pytest.raises(ValueError, match=message):
        resolve_cases(SweepSettings(preset="smoke", **{field: value}))
