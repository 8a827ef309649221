"""Plugins (--plugin, entry points) and layer files (--layers): the good path end to end, every bad one named."""
from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pandas as pd
import pytest

import kernels
from harness.cli import main
from harness.layerfile import LayerFileError, load_layers
from harness.plugins import PluginError, load_plugin, plugin_refs
from harness.results import COLUMNS
from tests.conftest import run_cli, seed_peak

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_PLUGIN = ROOT / "examples" / "fft_backend.py"
EXAMPLE_LAYERS = ROOT / "examples" / "squeezenet.toml"


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


GOOD_PLUGIN = """
    import kernels

    @kernels.register
    class Twice(kernels.Backend):
        name = "{name}"
        def prepare(self, x, w, spec):
            return kernels.get_backend("numpy").prepare(x, w, spec)
"""


@pytest.fixture
def cleanup_backends():
    before = set(kernels.list_backends())
    yield
    for name in set(kernels.list_backends()) - before:
        kernels.unregister(name)


@pytest.mark.parametrize("source, message", [
    ("def broken(:\n", "syntax error at line 1"),
    ("import no_such_module_xyz\n", "import failed: ModuleNotFoundError"),
    ("raise RuntimeError('kaboom')\n", "import failed: RuntimeError: kaboom"),
    (GOOD_PLUGIN.format(name="numpy"), "backend name 'numpy' is already registered"),
    ("import kernels\n@kernels.register\nclass X:\n    name = 'x-no-methods'\n", "lacks required method(s)"),
    ("x = 1\n", "registered no backend"),
])
def test_bad_plugins_are_named_errors(tmp_path, source, message, cleanup_backends, capsys):
    path = write(tmp_path, "bad_plugin.py", source)
    with pytest.raises(PluginError, match=re.escape(message)) as info:
        load_plugin(str(path))
    assert str(path) in str(info.value)
    assert main(["list", "--plugin", str(path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message.split(":")[0] in err


def test_a_plugin_whose_backend_was_unregistered_loads_again(tmp_path, cleanup_backends):
    path = str(write(tmp_path, "twice_plugin.py", GOOD_PLUGIN.format(name="test-twice")))
    assert load_plugin(path) == ["test-twice"]
    assert load_plugin(path) == ["test-twice"]  # loaded once: the second call is a no-op
    kernels.unregister("test-twice")  # behind the loader's back (a test's clean-up, a notebook)
    assert load_plugin(path) == ["test-twice"] and "test-twice" in kernels.list_backends()


def test_missing_plugin(capsys):
    assert main(["check", "--plugin", "no/such/plugin.py"]) == 2
    assert "no/such/plugin.py: no such file" in capsys.readouterr().err
    with pytest.raises(PluginError, match="no such file or module"):
        load_plugin("no_such_plugin_module_xyz")


def test_plugin_refs_are_read_before_parsing():
    assert plugin_refs(["sweep", "--plugin", "a.py", "--plugin=b", "--backends", "x"]) == ["a.py", "b"]


def test_wrong_output_shape_is_a_wrong_row(tmp_path, cleanup_backends, capsys):
    path = write(tmp_path, "shape_plugin.py", """
        import numpy as np
        import kernels

        class P(kernels.Prepared):
            def __init__(self, spec):
                self.spec = spec
            def __call__(self):
                pass
            def result(self):
                return np.zeros((1, 1, 1, 1), self.spec.dtype)

        @kernels.register
        class BadShape(kernels.Backend):
            name = "bad-shape-plugin"
            def prepare(self, x, w, spec):
                return P(spec)
    """)
    assert main(["check", "--plugin", str(path), "--backends", "bad-shape-plugin"]) == 1
    out = capsys.readouterr().out
    assert "wrong" in out and "output shape (1, 1, 1, 1)" in out


def test_example_layer_file_links_the_reduction():
    layers = {layer.label: layer for layer in load_layers(EXAMPLE_LAYERS)}
    assert (layers["fire2 squeeze"].role, layers["fire2 squeeze"].branch) == ("reduce", "fire2 expand3x3")
    assert layers["fire2 expand3x3"].role == "conv" and layers["fire2 3x3 direct"].role == "direct"
    assert layers["fire2 expand1x1"].role is None


@pytest.mark.parametrize("text, message", [
    ("[[layer]]\nlabel = 'a'\nC = 1\nH = 4\nW = 4\nF = 1\n", "layer 1 ('a'): missing field 'k'"),
    ("[[layer]]\nlabel = 'a'\nC = 'x'\nH = 4\nW = 4\nF = 1\nk = 1\n", "layer 1 ('a'): field 'C' must be an int"),
    ("[[layer]]\nlabel = 'a'\nC = '4'\nH = 4\nW = 4\nF = 1\nk = 1\n", "field 'C' must be an int >= 1, got '4'"),
    ("[[layer]]\nlabel = 'a'\nC = 1\nH = 2\nW = 2\nF = 1\nk = 5\n", "layer 1 ('a'): impossible shape: kernel size"),
    ("[[layer]]\nlabel = 'a'\nC = 1\nH = 4\nW = 4\nF = 1\nk = 1\ncolor = 3\n", "unknown field(s) color"),
    ("[[layer]]\nlabel = 'a'\nC = 1\nH = 4\nW = 4\nF = 1\nk = 1\nreduce_of = 'zz'\n", "names unknown layer 'zz'"),
    ("[[layer]]\nlabel = 'a'\nC = 1\nH = 4\nW = 4\nF = 1\nk = 1\ndtype = 'int8'\n", "field 'dtype' must be one of"),
    ("[[layer]]\nlabel = 'a'\nC = 1\nH = 4\nW = 4\nF = 1\nk = 1\n[[layer]]\nlabel = 'a'\nC = 1\nH = 4\nW = 4\n"
     "F = 1\nk = 1\n", "duplicate layer label(s) 'a'"),
    ("layer = 3 = 4", "not valid TOML"),
    ("[[layer]]\nlabel = 'r'\nC = 8\nH = 4\nW = 4\nF = 2\nk = 1\nreduce_of = 'c'\n"
     "[[layer]]\nlabel = 'c'\nC = 3\nH = 4\nW = 4\nF = 4\nk = 3\npadding = 1\n",
     "layer 1 ('r'): reduce_of 'c', but its F=2 is not the conv's C=3"),
    ("[[layer]]\nlabel = 'c'\nC = 2\nH = 4\nW = 4\nF = 4\nk = 3\npadding = 1\n"
     "[[layer]]\nlabel = 'd'\nC = 8\nH = 4\nW = 4\nF = 4\nk = 3\ndirect_of = 'c'\n",
     "direct_of 'c', but its output 2x2 is not the conv's output 4x4"),
    ("[[layer]]\nlabel = 'r'\nC = 8\nH = 4\nW = 4\nF = 2\nk = 1\nreduce_of = 'c'\n"
     "[[layer]]\nlabel = 'c'\nC = 2\nH = 4\nW = 4\nF = 4\nk = 3\npadding = 1\n"
     "[[layer]]\nlabel = 'd'\nC = 9\nH = 4\nW = 4\nF = 4\nk = 3\npadding = 1\ndirect_of = 'c'\n",
     "'d' (direct_of 'c') takes C=9 4x4, but the reduce 'r' takes C=8 4x4"),
    ("[[layer]]\nlabel = 'r'\nC = 8\nH = 4\nW = 4\nF = 2\nk = 1\nreduce_of = 'c'\n"
     "[[layer]]\nlabel = 's'\nC = 8\nH = 4\nW = 4\nF = 2\nk = 1\nreduce_of = 'c'\n"
     "[[layer]]\nlabel = 'c'\nC = 2\nH = 4\nW = 4\nF = 4\nk = 3\npadding = 1\n",
     "2 layers are reduce_of 'c' ('r', 's'); a branch has one"),
    ("[[layer]]\nlabel = 'r'\nC = 8\nH = 4\nW = 4\nF = 2\nk = 1\nreduce_of = 'c'\ndtype = 'float64'\n"
     "[[layer]]\nlabel = 'c'\nC = 2\nH = 4\nW = 4\nF = 4\nk = 3\npadding = 1\ndtype = 'float32'\n",
     "the branch of 'c' mixes dtypes float32, float64"),
])
def test_bad_toml_layer_files(tmp_path, text, message, capsys):
    path = write(tmp_path, "layers.toml", text)
    with pytest.raises(LayerFileError, match=re.escape(message)):
        load_layers(path)
    assert main(["list", "--layers", str(path)]) == 2
    assert str(path) in capsys.readouterr().err


def test_csv_layer_file_errors_give_the_line(tmp_path):
    path = write(tmp_path, "layers.csv", "label,C,H,W,F,k,padding\nok,3,8,8,4,3,same\nbad,3,8,8,4,3,-2\n")
    with pytest.raises(LayerFileError, match=r"line 3 \('bad'\): field 'padding' must be an int >= 0 or 'same'"):
        load_layers(path)
    path.write_text("label,C,H,W,F,k,padding\nok,3,8,8,4,3,same\n")
    assert load_layers(path)[0].padding == "same"
    path.write_bytes(b"\xef\xbb\xbflabel,C,H,W,F,k\nbom,3,8,8,4,3\n")  # Excel's "CSV UTF-8"
    assert load_layers(path)[0].label == "bom"
    toml = write(tmp_path, "bom.toml", "")
    toml.write_bytes(b"\xef\xbb\xbf[[layer]]\nlabel = 't'\nC = 3\nH = 8\nW = 8\nF = 4\nk = 3\n")
    assert load_layers(toml)[0].label == "t"
    path.write_text("label,C,H,W,F,k\nok,3,8,8,4,3,,\nlong,3,8,8,4,3,9,9\n")  # empty extra cells are fine
    with pytest.raises(LayerFileError, match="line 3: more values than the header has columns"):
        load_layers(path)
    path.write_text("label,C,C,H,W,F,k\ntwice,3,4,8,8,4,3\n")
    with pytest.raises(LayerFileError, match="line 1: column 'C' appears twice"):
        load_layers(path)


def test_list_shows_the_layers_and_their_flops(capsys):
    assert main(["list", "--layers", str(EXAMPLE_LAYERS)]) == 0
    out = capsys.readouterr().out
    assert "fire2 squeeze" in out and "reduce of fire2 expand3x3" in out
    assert f"{2 * 64 * 16 * 55 * 55 / 1e6:.4g}" in out  # fire2 squeeze MFLOP


@pytest.fixture
def example_plugin():
    """The example plugin loaded in this process for one test, and unloaded after it."""
    from harness.plugins import unload_plugin

    yield str(EXAMPLE_PLUGIN)
    assert unload_plugin(str(EXAMPLE_PLUGIN)) == ["fft"]
    assert "fft" not in kernels.list_backends()


def test_example_plugin_and_layers_end_to_end(tmp_path, example_plugin, capsys):
    """The example plugin and layer file through sweep, check, compare and plot, like built-in rows
    (in-process, through the CLI's main())."""
    results, plots = tmp_path / "results", tmp_path / "plots"
    seed_peak(results)
    common = ["--plugin", example_plugin, "--layers", str(EXAMPLE_LAYERS)]
    listed = run_cli("list", "--plugin", example_plugin)
    assert listed.returncode == 0 and "fft" in listed.stdout
    assert main(["check", *common, "--backends", "numpy,fft", "--axis", "H=9", "--axis", "W=9"]) == 0
    for run_id in ("one", "two"):
        code = main(["sweep", *common, "--backends", "numpy,fft", "--axis", "H=9", "--axis", "W=9",
                     "--budget-s", "0.05", "--repeats", "1", "--settle-s", "0", "--results-dir", str(results),
                     "--plots-dir", str(plots), "--run-id", run_id, "--quiet", "--no-plots", "--no-report"])
        assert code == 0, capsys.readouterr().err
    table = pd.read_csv(results / "one.csv")
    assert list(table.columns[: len(COLUMNS)]) == COLUMNS
    fft, numpy_rows = table[table["backend"] == "fft"], table[table["backend"] == "numpy"]
    assert len(fft) == len(numpy_rows) == 12
    assert (fft["status"] == "ok").all() and (fft["max_abs_err"] <= fft["tolerance"]).all()
    filled = lambda rows: {c for c in rows.columns if c not in ("reason", "flags") and rows[c].notna().all()}  # noqa: E731,E501
    assert filled(fft) == filled(numpy_rows)  # the same columns are filled as for a built-in backend
    reduction = pd.read_csv(results / "one.reduction.csv")
    assert set(reduction["backend"]) == {"numpy", "fft"} and len(reduction) == 6
    meta = json.loads((results / "one.json").read_text())
    assert meta["settings"]["plugins"] == [str(EXAMPLE_PLUGIN)]
    capsys.readouterr()
    assert main(["compare", "one", "two", "--results-dir", str(results)]) in (0, 1, 3)
    assert "fft" in capsys.readouterr().out
    assert main(["plot", str(results / "one.csv"), "--plots-dir", str(plots)]) == 0  # drawn from the table on disk
    assert {p.name for p in (plots / "one").iterdir()} >= {"gflops.png", "speedup.png", "reduction.png"}
