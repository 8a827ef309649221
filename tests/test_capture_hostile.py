"""Hostile models and inputs for `harness layers`: every file it writes reads back, a model's sys.exit() is a
one-line error, --input is ASCII digits within a bound, an unbatched conv input is a batch of one."""
from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from harness.capture import CaptureError, capture_layers, parse_input_shape, write_layer_file  # noqa: E402
from harness.layerfile import load_layers  # noqa: E402
from tests.conftest import run_cli  # noqa: E402

MODELS = Path(__file__).resolve().parent.parent / "examples" / "models.py"

FACTORIES = textwrap.dedent("""
    import sys
    from torch import nn

    class Exits(nn.Module):
        def __init__(self, code):
            super().__init__()
            self.conv, self.code = nn.Conv2d(3, 4, 3), code
        def forward(self, x):
            sys.exit(self.code) if self.code != "none" else sys.exit()

    class Unbatched(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.head = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 2, 1)
        def forward(self, x):
            return self.head(input=self.conv(x[0]))  # (C, H, W), and the input by keyword

    def forward_exits_0(): return Exits(0)
    def forward_exits_3(): return Exits(3)
    def forward_exits(): return Exits("none")
    def factory_exits_3(): sys.exit(3)
    def unbatched(): return Unbatched()
    def huge_stride(): return nn.Sequential(nn.Conv2d(3, 4, 3, stride=1000), nn.Conv2d(4, 4, 1))
    def only_huge_stride(): return nn.Conv2d(3, 4, 3, stride=1000)
""")


@pytest.fixture
def factories(tmp_path) -> Path:
    path = tmp_path / "hostile_models.py"
    path.write_text(FACTORIES)
    return path


def layers_cli(ref, shape, out):
    return run_cli("layers", "--from", ref, "--input", shape, "--output", out)


@pytest.mark.parametrize("model, shape, unsupported, n", [
    (f"{MODELS}:resnet18", "1x3x16x16", "layer4.0.downsample.0", 1),  # a 1x1/2 downsample of a 1x1 input
    (f"{MODELS}:resnet18", "1x3x8x8", "layer3.0.downsample.0", 2),
    ("{factories}:huge_stride", "1x3x32x32", "0", 1),  # stride 1000 on 32x32: torch runs it, the kernels cannot
])
def test_every_file_layers_writes_reads_back(tmp_path, factories, model, shape, unsupported, n):
    out = tmp_path / "net.toml"
    done = layers_cli(model.format(factories=factories), shape, out)
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    line = next(x for x in text.splitlines() if x.startswith(f"# unsupported: {unsupported} "))
    assert "shape the kernels cannot run: ConvSpec.stride must be at most the padded input size" in line
    assert f"{n} not runnable (listed as comments)" in done.stdout and f"{n} of them unsupported" in text
    assert unsupported not in [layer.label for layer in load_layers(out)]
    for argv in (["list", "--layers", out], ["check", "--layers", out, "--backends", "numpy"]):
        assert run_cli(*argv).returncode == 0, argv


def test_a_model_of_only_unrunnable_shapes_is_one_line_exit_2(tmp_path, factories):
    done = layers_cli(f"{factories}:only_huge_stride", "1x3x32x32", tmp_path / "x.toml")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "none of the 1 convolutions" in done.stderr
    assert "got 1000" in done.stderr and not (tmp_path / "x.toml").exists()


def test_a_hand_built_entry_of_an_impossible_shape_is_written_as_a_comment(tmp_path):
    good, = capture_layers(nn.Conv2d(3, 4, 3), "1x3x8x8")
    bad = dataclasses.replace(good, label="bad", stride=(99, 99))
    text = write_layer_file([good, bad], tmp_path / "hand.toml").read_text()
    assert "# unsupported: bad (count 1," in text and [x.label for x in load_layers(tmp_path / "hand.toml")] == ["conv"]


@pytest.mark.parametrize("name", ["ctl\x01name", "del\x7fname", "lone\ud800surrogate", "line\u2028sep"])
def test_odd_module_names_still_give_a_readable_file(tmp_path, name):
    model = nn.Sequential()
    model.add_module(name, nn.Conv2d(3, 3, 3, groups=3))  # a comment line
    model.add_module(name + "2", nn.Conv2d(3, 3, 3))
    model.add_module(name + "3", nn.Conv2d(3, 3, 3))  # "also ..." in a comment line
    model.add_module(name + "4", nn.Conv2d(3, 3, 3, padding=1))
    captured = capture_layers(model, "1x3x16x16")
    layers = load_layers(write_layer_file(captured, tmp_path / "odd.toml", source=f"odd {name}"))
    assert [x.label for x in layers] == [c.label for c in captured if c.reason is None] and len(layers) == 3


@pytest.mark.parametrize("factory, says", [
    ("forward_exits_0", "the forward pass on zeros of shape 1x3x8x8 called sys.exit(0)"),
    ("forward_exits_3", "the forward pass on zeros of shape 1x3x8x8 called sys.exit(3)"),
    ("forward_exits", "the forward pass on zeros of shape 1x3x8x8 called sys.exit()"),
    ("factory_exits_3", "building it called sys.exit(3)"),
])
def test_a_model_that_calls_sys_exit_is_one_line_exit_2(tmp_path, factories, factory, says):
    out = tmp_path / "x.toml"
    done = layers_cli(f"{factories}:{factory}", "1x3x8x8", out)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done
    assert f"model '{factories}:{factory}': {says}" in done.stderr and not out.exists()


def test_ctrl_c_in_the_forward_pass_still_stops_it():
    class Interrupted(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x):
            raise KeyboardInterrupt

    model = Interrupted()
    with pytest.raises(KeyboardInterrupt):
        capture_layers(model, "1x3x8x8")
    assert not model.conv._forward_hooks


@pytest.mark.parametrize("text", ["1x3x\u00b2x2", "1x3x\u0663x2", "1x3x\uff18x8", "1x3x08\u00b9x8"])
def test_input_digits_are_ascii_only(tmp_path, text):
    with pytest.raises(CaptureError, match="expected NxCxHxW with four ints >= 1"):
        parse_input_shape(text)
    done = layers_cli(f"{MODELS}:resnet18", text, tmp_path / "x.toml")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "expected NxCxHxW" in done.stderr


@pytest.mark.parametrize("text", ["1x3x2147483648x1", "1x1x16384x16385", "1x3x" + "9" * 5000 + "x1"])
def test_an_input_beyond_the_bound_is_refused_before_allocating(tmp_path, text):
    from harness.capture import MAX_INPUT_ELEMENTS

    with pytest.raises(CaptureError, match=f"more than {MAX_INPUT_ELEMENTS} .1 GiB of float32"):
        parse_input_shape(text)
    done = layers_cli(f"{MODELS}:resnet18", text, tmp_path / "x.toml")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "GiB" in done.stderr
    assert parse_input_shape("1x1x16384x16384") == (1, 1, 16384, 16384)  # exactly the bound: allowed


def test_an_unbatched_conv_input_is_a_batch_of_one(tmp_path, factories):
    out = tmp_path / "u.toml"
    done = layers_cli(f"{factories}:unbatched", "1x3x8x8", out)
    assert done.returncode == 0, done.stderr
    assert [(x.label, x.N, x.C, x.H, x.W, x.F) for x in load_layers(out)] == [
        ("conv", 1, 3, 8, 8, 4), ("head", 1, 4, 8, 8, 2)]


def test_a_conv_whose_shapes_the_hook_cannot_read_is_not_blamed_on_the_model():
    class TupleConv(nn.Conv2d):
        def forward(self, x):
            return (super().forward(x),)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.odd = TupleConv(3, 4, 3)

        def forward(self, x):
            return self.odd(x)[0]

    with pytest.raises(CaptureError, match=r"^convbench could not record the shape of convolution 'odd'") as info:
        capture_layers(Net(), "1x3x8x8")
    assert "failed" not in str(info.value)
