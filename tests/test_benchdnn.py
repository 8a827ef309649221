"""benchdnn descriptors: parsing real oneDNN shape files, benchdnn's derivations, errors, round trips."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.benchdnn import format_descriptor, load_descriptor_file, parse_descriptor, parse_descriptor_lines
from harness.layerfile import LayerFileError, load_layer_file, load_layers
from harness.layers import Layer
from kernels import ConvSpec

SAMPLE = Path(__file__).resolve().parent / "data" / "benchdnn_sample.txt"


def test_the_two_documented_examples():
    d = parse_descriptor('mb1ic192ih28oc64oh28kh1ph0n"googlenet_v1:inception_3a/1x1"')
    assert (d.mb, d.ic, d.ih, d.iw, d.oc, d.oh, d.ow, d.kh, d.kw, d.sh, d.sw, d.ph, d.pw, d.g) == \
        (1, 192, 28, 28, 64, 28, 28, 1, 1, 1, 1, 0, 0, 1)
    assert d.name == "googlenet_v1:inception_3a/1x1" and d.count == 1 and d.unsupported_reason() is None
    assert d.to_layer() == Layer("googlenet_v1:inception_3a/1x1", C=192, H=28, W=28, F=64, k=1, N=1)
    r = parse_descriptor('g1mb2ic3ih224iw224oc64oh112ow112kh7kw7sh2sw2ph3pw3n"resnet_50:conv1"')
    assert r.to_layer() == Layer("resnet_50:conv1", C=3, H=224, W=224, F=64, k=7, stride=2, padding=3, N=2)
    # benchdnn's short form: g when given, no mb2, no w fields for a square problem
    assert str(r) == 'g1ic3ih224oc64oh112kh7sh2ph3n"resnet_50:conv1"'


def test_real_oneDNN_lines_load_with_counts():
    entries = load_descriptor_file(SAMPLE)
    assert len(entries) == 17  # the commented-out line and the license header are skipped
    assert all(e.reason is None and e.layer is not None for e in entries)
    by_label = {e.label: e for e in entries}
    assert by_label["resnet_50:res2a_branch1"].count == 4
    assert by_label["resnet_50:res2a_branch1"].layer.count == 4
    assert by_label["googlenet_v1:inception_3b/1x1"].count == 2
    assert by_label["googlenet_v1:inception_3a/5x5"].layer == Layer(
        "googlenet_v1:inception_3a/5x5", C=16, H=28, W=28, F=32, k=5, padding=2, N=96)
    down = by_label["resnet_50:res3a_branch1"]
    assert (down.layer.C, down.layer.H, down.layer.F, down.layer.k, down.layer.stride) == (256, 56, 512, 1, 2)
    assert down.desc == "mb50ic256ih56oc512oh28kh1sh2ph0"
    for e in entries:
        assert e.desc == format_descriptor(e.layer.N, e.layer.C, e.layer.H, e.layer.W, e.layer.F, e.layer.k,
                                           e.layer.stride, e.layer.padding)
    for e in entries:  # every shape is a valid convbench convolution whose output is what benchdnn says
        d = parse_descriptor(e.desc)
        spec = ConvSpec(N=e.layer.N, C=e.layer.C, H=e.layer.H, W=e.layer.W, F=e.layer.F, k=e.layer.k,
                        stride=e.layer.stride, padding=e.layer.padding)
        assert (spec.Ho, spec.Wo) == (d.oh, d.ow)


@pytest.mark.parametrize("text, expected", [
    ("ic3ih10oc4kh3", dict(mb=2, g=1, iw=10, kw=3, sw=1, ph=0, pw=0, oh=8, ow=8, dh=0, dw=0)),
    ("ic3ih10oc4kh3sh2ph1", dict(oh=5, ow=5, sw=2, pw=1)),
    ("ic3ih28oc4oh28kh3", dict(ph=1, pw=1)),                 # pad derived from the output
    ("ic3ih28oc4oh28kh5", dict(ph=2)),
    ("ic3ih28oc4oh14kh1sh2", dict(ph=0)),                    # (13*2-28+1)/2 = -1/2 truncates to 0, as in C
    ("ic3ih8oc4kh3dh1", dict(oh=4, dw=1)),                  # effective kernel (3-1)*(1+1)+1 = 5
    ("ic3ih8iw12oc4kh3kw3", dict(oh=6, ow=10)),
    ("ic3iw12oc4kw3", dict(ih=1, kh=1, oh=1, ow=10, ndims=3)),  # 1-D: h gets benchdnn's defaults
    ("mb7_ic3_ih8_oc4_kh1", dict(mb=7, oh=8)),              # single '_' separators
    ("kh1oc4ih8ic3", dict(ic=3, oc=4, oh=8)),               # any order
    ('ic3ih8oc4kh1n"conv*3"', dict(name="conv", count=3)),
    ("ic3ih8oc4kh1nplain", dict(name="plain", count=1)),
])
def test_benchdnn_derivations(text, expected):
    d = parse_descriptor(text)
    assert {k: getattr(d, k) for k in expected} == expected


@pytest.mark.parametrize("text, reason", [
    ("g2ic8ih10oc4kh3", "grouped convolution (g=2)"),
    ("g32ic32ih56oc32oh56kh3ph1", "grouped convolution (g=32)"),
    ("ic8ih10oc4kh3dh1", "dilated convolution (dh=1, dw=1)"),
    ("ic8ih10iw10oc4kh3kw1", "non-square kernel (kh=3, kw=1)"),
    ("ic8ih10iw10oc4kh3kw3sh1sw2", "non-square stride"),
    ("ic8ih10iw10oc4oh10ow8kh3kw3ph1pw0", "non-square padding (ph=1, pw=0)"),
    ("ic3ih224oc64oh112kh7sh2", "oh=112 needs asymmetric padding"),  # derived ph=2, right pad 3
    ("ic3ih28oc4oh20kh3ph1", "oh=20 needs asymmetric padding"),
    ("ic3ih3oc4oh1kh1", "negative padding ph=-1 (derived from oh=1)"),
    ("ic3id8ih8iw8oc4kd3kh3kw3", "3-D convolution"),
    ("mb0ic3ih8oc4kh1", "empty batch"),
    ("ic3iw8oc4kw3", "1-D convolution (kw=3, no h fields)"),
])
def test_unsupported_descriptors_say_why(text, reason):
    d = parse_descriptor(text)
    assert reason in d.unsupported_reason()
    with pytest.raises(ValueError, match=re.escape(reason)):
        d.to_layer()


def test_non_square_input_is_supported():
    d = parse_descriptor("ic3ih20iw30oc4kh3kw3ph1pw1")
    assert d.unsupported_reason() is None
    assert (d.to_layer().H, d.to_layer().W, d.ow) == (20, 30, 30)


@pytest.mark.parametrize("text, problem", [
    ("", "empty"),
    ("ic3oc4", "no spatial dimension"),
    ("ic3ih8oc4", "'kh' was not given"),
    ("ic3ih20iw30oc4kh3", "'kw' was not given"),             # benchdnn: w given in part needs kw too
    ("ih8oc4kh1", "'ic' was not given"),
    ("g0ic3ih8oc4kh1", "'g' was not given or is 0"),
    ("ic3ih8oc4kh1sh0", "'sh' was not given or is 0"),
    ("ic3ih8oc4kh9", "derived oh=0 is not positive"),
    ("ic3ih8oc4kh1x", "unrecognized text starting at 'x'"),
    ("ic3ihoc4kh1", "field 'ih' has no value"),
    ("ic3ih-8oc4kh1", "field 'ih' must be >= 0"),
    ("ic3ih8ih9oc4kh1", "field 'ih' given twice"),
    ("ic3ih8oc4kh1__ph0", "unrecognized text starting at '_ph0'"),
    ("_ic3ih8oc4kh1", "unrecognized text"),
    ("ic3id8ih8oc4kd1kh1", "give all h and w fields or none"),
    ('ic3ih8oc4kh1n"x*0"', "count '*0' in the name must be >= 1"),
])
def test_malformed_descriptors_name_text_and_problem(text, problem):
    with pytest.raises(ValueError) as info:
        parse_descriptor(text)
    assert problem in str(info.value) and repr(text) in str(info.value)


def test_format_descriptor_short_form():
    assert format_descriptor(1, 192, 28, 28, 64, 1, 1, 0, name="googlenet_v1:inception_3a/1x1") == \
        'mb1ic192ih28oc64oh28kh1ph0n"googlenet_v1:inception_3a/1x1"'
    assert format_descriptor(2, 16, 28, 28, 32, 5, padding="same") == "ic16ih28oc32oh28kh5ph2"
    assert format_descriptor(1, 3, 224, 200, 64, 7, 2, 3) == "mb1ic3ih224iw200oc64oh112ow100kh7kw7sh2sw2ph3pw3"
    assert format_descriptor(1, 3, 8, 8, 4, 1, name="a", count=3) == 'mb1ic3ih8oc4oh8kh1ph0n"a*3"'
    for bad in (dict(name="two words"), dict(name='q"'), dict(count=0)):
        with pytest.raises(ValueError):
            format_descriptor(1, 3, 8, 8, 4, 1, **bad)


@settings(max_examples=150, deadline=None)
@given(N=st.integers(1, 64), C=st.integers(1, 512), H=st.integers(1, 64), W=st.integers(1, 64),
       F=st.integers(1, 512), k=st.integers(1, 7), stride=st.integers(1, 4), padding=st.integers(0, 3),
       name=st.none() | st.from_regex(r"[A-Za-z0-9_:/.\-]{1,12}", fullmatch=True), count=st.integers(1, 9))
def test_format_parse_round_trip(N, C, H, W, F, k, stride, padding, name, count):
    if k > min(H, W) + 2 * padding or stride > max(H, W) + 2 * padding:
        return  # shapes kernels.ConvSpec refuses (kernel or stride beyond the padded input)
    text = format_descriptor(N, C, H, W, F, k, stride, padding, name=name, count=count)
    d = parse_descriptor(text)
    assert str(d) == text  # the short form is a fixed point
    layer = d.to_layer()
    assert (layer.N, layer.C, layer.H, layer.W, layer.F, layer.k, layer.stride, layer.padding, layer.count) == \
        (N, C, H, W, F, k, stride, padding, count)
    assert d.name == (name or "") and layer.label == (name or d.shape_string())


def test_file_entries_keep_unsupported_rows_with_reasons(tmp_path):
    path = tmp_path / "shapes_mixed"
    path.write_text('# header\n\nmb1ic8ih8oc8kh3ph1n"ok*2"   # trailing comment\n'
                    'g8mb1ic8ih8oc8kh3ph1n"depthwise"\n  mb1ic4ih9oc4kh3dh1\n')
    entries = load_descriptor_file(path)
    assert [(e.label, e.count, e.line, e.reason is None) for e in entries] == [
        ("ok", 2, 3, True), ("depthwise", 1, 4, False), ("mb1ic4ih9oc4oh5kh3ph0dh1", 1, 5, False)]
    assert entries[1].layer is None and "grouped" in entries[1].reason
    assert entries[1].desc == "g8mb1ic8ih8oc8oh8kh3ph1"
    layers, unsupported = load_layer_file(path)
    assert [layer.label for layer in layers] == ["ok"] and layers[0].count == 2
    assert [(u.label, u.desc, u.count) for u in unsupported] == [
        ("depthwise", "g8mb1ic8ih8oc8oh8kh3ph1", 1), ("mb1ic4ih9oc4oh5kh3ph0dh1", "mb1ic4ih9oc4oh5kh3ph0dh1", 1)]
    assert "dilated" in unsupported[1].reason
    assert load_layers(path) == layers


@pytest.mark.parametrize("text, problem", [
    ("mb1ic8ih8oc8kh3\nmb1ic8ih8oc8kh3 \n", "line 2: label 'mb1ic8ih8oc8oh6kh3ph0' already used on line 1"),
    ("--dir=FWD_D\nmb1ic8ih8oc8kh3\n", "line 1: benchdnn option '--dir=FWD_D'"),
    ("mb1ic8ih8oc8kh3\nmb1ic8kh3\n", "line 2: descriptor 'mb1ic8kh3'"),
    ("# only comments\n", "no layers"),
    ("g2ic8ih8oc8kh3\n", "no layer the kernels can run (1 unsupported; 'g2ic8ih8oc8oh6kh3ph0': grouped"),
])
def test_bad_descriptor_files_are_layer_file_errors(tmp_path, text, problem):
    path = tmp_path / "shapes.txt"
    path.write_text(text)
    with pytest.raises(LayerFileError) as info:
        load_layers(path)
    assert problem in str(info.value) and str(path) in str(info.value)


def test_parse_descriptor_lines_names_its_source():
    with pytest.raises(ValueError, match=r"^cli: line 1: descriptor 'nope'"):
        parse_descriptor_lines("nope", source="cli")


def test_layer_count_must_be_positive():
    with pytest.raises(ValueError, match="count must be an int >= 1"):
        Layer("x", C=1, H=1, W=1, F=1, k=1, count=0)


@pytest.mark.parametrize("suffix, body", [
    (".toml", '[[layer]]\nlabel = "a"\nC = 2\nH = 4\nW = 4\nF = 2\nk = 1\ncount = 3\n'),
    (".csv", "label,C,H,W,F,k,count\na,2,4,4,2,1,3\n"),
])
def test_toml_and_csv_accept_count(tmp_path, suffix, body):
    path = tmp_path / f"layers{suffix}"
    path.write_text(body)
    assert [layer.count for layer in load_layers(path)] == [3]
    assert load_layer_file(path) == (load_layers(path), [])
    path.write_text(body.replace("3", "0"))
    with pytest.raises(LayerFileError, match="field 'count' must be an int >= 1"):
        load_layers(path)


@st.composite
def descriptor_texts(draw):
    """Descriptor text with random present dimensions (i and k always, o/s/p/d sometimes), in random order."""
    dims = draw(st.sampled_from(["h", "w", "hw", "dhw", "d"]))
    fields = {"ic": draw(st.integers(1, 9)), "oc": draw(st.integers(1, 9))}
    for name, values in (("g", st.integers(1, 3)), ("mb", st.integers(0, 4))):
        if draw(st.booleans()):
            fields[name] = draw(values)
    for a in dims:
        fields["i" + a], fields["k" + a] = draw(st.integers(1, 12)), draw(st.integers(1, 4))
        for f, values in (("o", st.integers(1, 12)), ("s", st.integers(1, 3)), ("p", st.integers(0, 3)),
                          ("d", st.integers(0, 2))):
            if draw(st.integers(0, 2)) == 0:
                fields[f + a] = draw(values)
    items = [f"{k}{v}" for k, v in fields.items()]
    return "_".join(draw(st.permutations(items))) + 'n"x"'


@settings(max_examples=300, deadline=None)
@given(text=descriptor_texts())
def test_any_parsed_descriptor_prints_back_to_itself(text):
    try:
        d = parse_descriptor(text)
    except ValueError:
        return  # benchdnn rejects it too (a non-positive derived output)
    reason = d.unsupported_reason()
    if min(d.pd, d.ph, d.pw) < 0:  # a pad derived from a too-small output: benchdnn prints "ph-1" too
        assert reason is not None and "-" in d.shape_string()
        return
    assert parse_descriptor(str(d)) == d
    if reason is None:  # runnable: the layer's output is what benchdnn computed
        layer = d.to_layer()
        spec = ConvSpec(N=layer.N, C=layer.C, H=layer.H, W=layer.W, F=layer.F, k=layer.k, stride=layer.stride,
                        padding=layer.padding)
        assert (spec.Ho, spec.Wo) == (d.oh, d.ow)
