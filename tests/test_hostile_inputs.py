"""Round two of hostile inputs (issue 30): overflowing shapes, odd files, escape sequences, huge layer files.

Shapes whose FLOPs or bytes do not fit int64 are refused before anything is measured (one line naming the
layer), and old tables that hold such numbers are one-line errors to read; a benchdnn file that is not UTF-8
is named; labels and messages reach the terminal without their escape sequences; ``list --layers`` of a big
file draws a bounded table; a sweep parses its layer file once; ``check --layers`` names the file.
"""
from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

import harness.layerfile
import kernels
from harness.cli import main
from tests.conftest import run_cli

DATA = Path(__file__).resolve().parent / "data"
BIG = 2**31 - 1
TINY = '[[layer]]\nlabel = "tiny"\nC = 3\nH = 6\nW = 6\nF = 4\nk = 3\npadding = 1\n'


def quick(tmp_path, *extra) -> list[str]:
    return ["--results-dir", str(tmp_path / "r"), "--plots-dir", str(tmp_path / "p"), "--budget-s", "0.02",
            "--repeats", "1", "--settle-s", "0", "--in-process", *extra]


@pytest.mark.parametrize("name, text, says", [
    ("huge.toml", f"[[layer]]\nlabel = 'huge'\nC = {2**62}\nH = {2**31}\nW = {2**31}\nF = {2**62}\nk = 1\n",
     "layer 1 ('huge'): field 'C' = 4611686018427387904 is absurdly large"),
    ("product.toml", f"[[layer]]\nlabel = 'wide'\nC = {BIG}\nH = {BIG}\nW = {BIG}\nF = {BIG}\nk = 1\n",
     "layer 1 ('wide'): impossible shape: FLOPs = "),
    ("huge.csv", "label,C,H,W,F,k\nrow,3,8,8,4,99999999999999999999999\n", "line 2 ('row'): field 'k' = 9999"),
    ("huge.txt", "mb99999999999ic99999999999ih99999999999oc99999999999oh99999999999kh1ph0\n",
     "field 'mb' = 99999999999 is absurdly large"),
    ("product.txt", f"mb{BIG}ic{BIG}ih{BIG}oc{BIG}kh1ph0\n", "line 1 ('mb2147483647ic2147483647"),
    ("count.txt", 'mb1ic3ih8oc4oh8kh3ph1n"x*99999999999999999999"\n', "count '*99999999999999999999'"),
    ("digit.csv", "label,C,H,W,F,k\nrow,\u00b2,8,8,4,3\n", "line 2 ('row'): field 'C' must be an int >= 1"),
])
def test_overflowing_layers_are_refused_before_measuring(tmp_path, name, text, says):
    path = tmp_path / name
    path.write_text(text)
    for argv in (["list", "--layers", path], ["check", "--layers", path, "--backends", "numpy"],
                 ["sweep", "--layers", path, "--backends", "numpy", *quick(tmp_path)]):
        done = run_cli(*argv)
        assert done.returncode == 2, (argv, done)
        assert done.stderr.count("\n") == 1 and str(path) in done.stderr and says in done.stderr, done.stderr
    assert not (tmp_path / "r").exists()


def test_axis_values_that_multiply_beyond_int64_are_refused(tmp_path):
    done = run_cli("sweep", "--preset", "smoke", "--axis", f"N={BIG}", "--axis", f"C={BIG}", "--axis", f"F={BIG}",
                   "--backends", "numpy", *quick(tmp_path))
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "exceed the int64 range" in done.stderr
    with pytest.raises(kernels.ShapeOverflowError, match="FLOPs"):
        kernels.ConvSpec(N=BIG, C=BIG, H=BIG, W=BIG, F=BIG, k=1)


@pytest.mark.parametrize("column, value", [("count", "99999999999999999999"), ("count", "18000000000000000000"),
                                           ("flops", "196159429230833773869868419475239575503198607639501078528")])
def test_tables_holding_numbers_beyond_int64_are_one_line_errors(tmp_path, results_dir, column, value):
    layers = tmp_path / "tiny.toml"
    layers.write_text(TINY)
    done = run_cli("sweep", "--layers", layers, "--backends", "numpy", "--run-id", "old", "--no-plots",
                   "--no-report", "--quiet", *quick(tmp_path), "--results-dir", results_dir)
    assert done.returncode == 0, done.stderr
    table = results_dir / "old.csv"
    header, *rows = table.read_text().splitlines()
    at = header.split(",").index(column)
    rows = [",".join(value if i == at else cell for i, cell in enumerate(row.split(","))) for row in rows]
    table.write_text("\n".join([header, *rows]) + "\n")  # as 901a545 wrote an overflowing layer's row
    for argv in (["report", "old", "--results-dir", results_dir, "--plots-dir", tmp_path / "p"],
                 ["plot", table, "--plots-dir", tmp_path / "p"],
                 ["compare", "old", "old", "--results-dir", results_dir]):
        done = run_cli(*argv)
        assert done.returncode == 2 and done.stderr.count("\n") == 1, (argv, done.stderr)
        assert f"column(s) {column} hold non-numbers or numbers beyond int64" in done.stderr


def test_a_benchdnn_file_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / "shapes_latin1"
    path.write_bytes(b"mb1ic3ih8oc4oh8kh3ph1n\"caf\xe9\"\n")
    for argv in (["list", "--layers", path], ["check", "--layers", path, "--backends", "numpy"]):
        done = run_cli(*argv)
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done
        assert f"{path}: not UTF-8 text" in done.stderr


def test_list_layers_of_a_big_file_draws_a_bounded_table(tmp_path):
    path = tmp_path / "many.csv"
    path.write_text("label,C,H,W,F,k\n" + "".join(f"L{i},3,8,8,4,{1 + 2 * (i % 2)}\n" for i in range(1000)))
    done = run_cli("list", "--layers", path)
    assert done.returncode == 0, done.stderr
    drawn = [line for line in done.stdout.splitlines() if re.match(r"^\S L\d+ ", line)]
    assert len(drawn) == 200 and "... and 800 more layers not shown; 1000 layers" in done.stdout
    flops = 500 * 2 * 4 * 3 * 8 * 8 + 500 * 2 * 4 * 3 * 9 * 6 * 6
    assert f"{flops / 1e9:.4g} GFLOP in all" in done.stdout


def test_a_sweep_parses_its_layer_file_once(tmp_path, results_dir, monkeypatch):
    path = tmp_path / "once.csv"
    path.write_text("label,C,H,W,F,k\na,3,6,6,4,3\nb,4,5,5,2,1\n")
    calls = []
    for reader in ("plain_csv_layers", "_read_entries"):  # column by column, or row by row when not plain
        real = getattr(harness.layerfile, reader)
        monkeypatch.setattr(harness.layerfile, reader, lambda p, real=real: calls.append(p) or real(p))
    done = run_cli("sweep", "--layers", path, "--backends", "numpy", "--run-id", "once", "--no-plots", "--no-report",
                   "--quiet", *quick(tmp_path), "--results-dir", results_dir)
    assert done.returncode == 0, done.stderr
    assert len(calls) == 1


def test_check_of_a_layer_file_names_the_file_not_a_preset(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(TINY)
    done = run_cli("check", "--layers", path, "--backends", "numpy")
    assert done.returncode == 0, done.stderr
    squeezed = "".join(done.stdout.split())  # the title wraps at the table's width, a long path mid-name
    assert "".join(f"Correctness vs float64 reference, layers {path}".split()) in squeezed
    assert "presetsmoke" not in squeezed


ANSI_PLUGIN = """
    import kernels

    @kernels.register
    class Shouter(kernels.Backend):
        name = "ansi-shouter"
        def prepare(self, x, w, spec):
            raise RuntimeError("\\x1b[2J\\x1b[31mscreen cleared\\x1b]0;title\\x07")
"""


def test_escape_sequences_in_labels_and_messages_never_reach_the_terminal(tmp_path, results_dir):
    layers = tmp_path / "ansi.toml"
    layers.write_text(TINY.replace('"tiny"', '"tiny\\u001b[2J\\u009b31m[bold]x[/]"'))
    plugin = tmp_path / "ansi_plugin.py"
    plugin.write_text(textwrap.dedent(ANSI_PLUGIN))
    try:
        runs = [run_cli("sweep", "--layers", layers, "--plugin", plugin, "--backends", "numpy,ansi-shouter",
                        "--run-id", "ansi", "--no-plots", "--no-report", *quick(tmp_path), "--results-dir",
                        results_dir),
                run_cli("check", "--layers", layers, "--plugin", plugin, "--backends", "numpy,ansi-shouter"),
                run_cli("list", "--layers", layers),
                run_cli("compare", "ansi", "ansi", "--results-dir", results_dir)]
    finally:
        kernels.unregister("ansi-shouter")
    assert [r.returncode for r in runs] in ([0, 1, 0, 0], [0, 1, 0, 3]), [r.stderr for r in runs]
    for done in runs:
        for text in (done.stdout, done.stderr):
            assert not re.search(r"[\x1b\x07\x9b]", text), text
    assert "screen cleared" in runs[0].stdout and "\\x1b[2J" in runs[0].stdout  # shown, not obeyed
    assert "[bold]x[/]" in runs[2].stdout  # markup in a label is shown as written


@pytest.mark.parametrize("edit, says", [
    (lambda b: b.update(extra_info=[1, 2]), "'extra_info' is a list, not an object"),
    (lambda b: b["extra_info"].update(C="192"), "extra_info['C'] must be a number, got '192'"),
    (lambda b: b["stats"].update(iterations="4"), "stats.iterations must be an int >= 1, got '4'"),
    (lambda b: b["stats"].update(data=[1e-3]), "has 1 round; compare needs at least 2 per-round times"),
])
def test_odd_pytest_benchmark_files_are_one_line_errors(tmp_path, edit, says):
    doc = json.loads((DATA / "bench_base.json").read_text())
    edit(doc["benchmarks"][0])
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(doc))
    done = run_cli("compare", path, DATA / "bench_base.json")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and says in done.stderr, done.stderr
    assert "samples file" not in done.stderr
    null = json.loads((DATA / "bench_base.json").read_text())
    for bench in null["benchmarks"]:
        bench["extra_info"] = None  # pytest-benchmark without extra_info: compared by name (and backend group)
    path.write_text(json.dumps(null))
    assert run_cli("compare", path, path).returncode in (0, 3)


def test_a_deeply_nested_pytest_benchmark_file_is_one_line(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    done = run_cli("compare", path, DATA / "bench_base.json")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "nested too deeply" in done.stderr


@pytest.mark.parametrize("run_id, file", [("noise", "noise.json"), ("history", "history.sqlite"),
                                          ("PEAK", "peak.json"), ("index", "index.html")])
def test_a_run_id_of_one_of_the_harness_own_files_is_refused(tmp_path, run_id, file):
    from harness.results import check_run_id

    with pytest.raises(ValueError, match=rf"invalid run id {run_id!r}: reserved for the harness's own .*{file}"):
        check_run_id(run_id)
    with pytest.raises(ValueError, match=rf"invalid run id {run_id!r}: reserved"):
        check_run_id(run_id, new=False)  # nor read as a run: noise.json would be taken for its metadata
    done = run_cli("sweep", "--preset", "smoke", "--backends", "numpy", "--run-id", run_id, *quick(tmp_path))
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and f"invalid run id {run_id!r}" in done.stderr
    assert not (tmp_path / "r").exists()  # refused before the results folder is made for it


def test_every_file_the_harness_keeps_in_a_results_folder_reserves_its_name(tmp_path):
    """The reserved run ids come from the names the stores write (harness.runfiles), and no module names a file
    of its own beside the runs but through them: a new store cannot forget to reserve its name."""
    import ast

    from harness.historydb import default_db
    from harness.noisefloor import noise_path
    from harness.peak_store import peak_path
    from harness.results import check_run_id
    from harness.runfiles import HARNESS_FILES

    for path in (peak_path(tmp_path), noise_path(tmp_path), default_db(tmp_path)):
        assert path.name in HARNESS_FILES
        with pytest.raises(ValueError, match="reserved"):
            check_run_id(path.name.split(".")[0])
    named = re.compile(r"\A[\w-]+\.(json|jsonl|sqlite3?|db|csv|lock|npz|npy|pkl|parquet)\Z")
    root = Path(harness.layerfile.__file__).parent
    literals = [f"{p.relative_to(root)}:{node.lineno} {node.value}" for p in sorted(root.rglob("*.py"))
                if p.name != "runfiles.py" for node in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and named.match(node.value)]
    assert not literals, f"name these files in harness.runfiles.HARNESS_FILES: {literals}"


@pytest.mark.parametrize("argv", [["plot", "NAME"], ["report", "NAME"], ["compare", "NAME", "r1"],
                                  ["compare", "NAME.json,b.json", "NAME.json,c.json"], ["history", "add", "NAME"]])
def test_a_name_longer_than_a_file_system_takes_is_one_line(argv, tmp_path, capsys):
    """Path.is_file raises OSError (ENAMETOOLONG) for it: was a traceback (plot, report) or an errno (compare)."""
    import harness

    name = "x" * 300
    code = main([a.replace("NAME", name) for a in argv] + ["--results-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "255 bytes" in err and "Errno" not in err
    with pytest.raises(ValueError, match="255 bytes"):
        harness.load(name, results_dir=tmp_path)
