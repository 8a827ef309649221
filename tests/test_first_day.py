"""What a newcomer hits on the first day, end to end through the CLI: typos get their fix, the tables say what
did not run in one line, ``check`` ends with its counts, and a run leaves no lock file behind."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness.errors import did_you_mean
from tests.conftest import run_cli
from tests.test_render import ANSI
from tests.test_runfiles import TINY  # two tiny layers: a 3x3 and a 1x1

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = str(ROOT / "tests" / "data" / "faulty_plugin.py")
MODELS = str(ROOT / "examples" / "models.py")


def plain(text: str) -> str:
    """``text`` without terminal colour codes (FORCE_COLOR may be set)."""
    return ANSI.sub("", text)


def tiny_sweep(tmp_path, results_dir, *extra, run_id="day1"):
    """A sweep of two tiny layers in this process (no plots, no page) into ``results_dir``."""
    layers = tmp_path / "tiny.toml"
    layers.write_text(TINY)
    return run_cli("sweep", "--plugin", PLUGIN, "--layers", layers, "--budget-s", "0.02", "--repeats", "1",
                   "--settle-s", "0", "--in-process", "--no-plots", "--no-report", "--results-dir", results_dir,
                   "--plots-dir", tmp_path / "p", "--run-id", run_id, *extra)


def test_did_you_mean_names_the_closest_entries_or_nothing():
    assert did_you_mean("numba-cpuu", ["numpy", "numba-cpu", "torch"]) == " (did you mean 'numba-cpu'?)"
    assert did_you_mean("inceptio", ["smoke", "inception3a", "inception"]) == \
        " (did you mean 'inception' or 'inception3a'?)"
    assert did_you_mean("vgg", ["smoke", "inception3a"]) == ""


@pytest.mark.parametrize("argv, message", [
    (["sweep", "--backends", "numba-cpuu"], "unknown backend(s) 'numba-cpuu' (did you mean 'numba-cpu'"),
    (["sweep", "--backends", "numpy,torhc"], "unknown backend(s) 'torhc' (did you mean 'torch'?); choose from:"),
    (["sweep", "--preset", "inceptoin3a"], "unknown preset 'inceptoin3a' (did you mean 'inception3a'"),
    (["check", "--preset", "smok"], "unknown preset 'smok' (did you mean 'smoke'?)"),
    (["sweep", "--axis", "theads=1"], "unknown axis 'theads' (did you mean 'threads'?); axes are:"),
    (["sweep", "--baseline", "numpi"], "unknown baseline 'numpi' (did you mean 'numpy'?)"),
])
def test_a_typo_gets_did_you_mean_in_its_one_line(argv, message):
    proc = run_cli(*argv)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert message in proc.stderr


def test_layers_from_a_file_names_the_callables_it_has(tmp_path):
    pytest.importorskip("torch")
    proc = run_cli("layers", "--from", f"{MODELS}:resnet19", "--output", tmp_path / "x.toml")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "has no callable 'resnet19' (did you mean 'resnet18'?)" in proc.stderr
    assert "the callables it defines: BasicBlock, Inception, googlenet, resnet18" in proc.stderr  # not nn, not _conv
    assert not (tmp_path / "x.toml").exists()


def test_a_missing_torchvision_says_how_to_install_it(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    for name in ("torchvision", "torchvision.models"):  # as on a machine without it (whatever was imported before)
        monkeypatch.setitem(sys.modules, name, None)
    proc = run_cli("layers", "--from", "torchvision:resnet18", "--output", tmp_path / "x.toml")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "torchvision is not importable" in proc.stderr
    assert "install it: pip install torchvision" in proc.stderr and torch.__version__ in proc.stderr


def test_check_ends_with_its_counts(tmp_path):
    layers = tmp_path / "tiny.toml"
    layers.write_text(TINY)
    proc = run_cli("check", "--plugin", PLUGIN, "--layers", layers, "--backends", "numpy,test-off,test-nowhere")
    assert proc.returncode == 1, proc.stderr  # test-off is wrong
    last = plain(proc.stdout).strip().splitlines()[-1]
    assert last == "2 ok, 2 wrong, 2 not run"


def test_a_backend_that_ran_nowhere_is_one_line_under_the_table_not_a_column(tmp_path, results_dir):
    proc = tiny_sweep(tmp_path, results_dir, "--backends", "numpy,test-nowhere")
    assert proc.returncode == 0, proc.stderr
    out = plain(proc.stdout)
    header = next(line for line in out.splitlines() if "case" in line and "MFLOP" in line)
    assert "numpy" in header and "test-nowhere" not in header
    lines = [line for line in out.splitlines() if "test-nowhere" in line]
    assert lines == ["  not run: test-nowhere (unavailable: this test machine has no such device)"]
    page_table = (results_dir / "day1.csv").read_text()
    assert page_table.count("test-nowhere") == 2  # the table keeps its rows


def test_a_finished_sweep_leaves_no_lock_file(tmp_path, results_dir):
    proc = tiny_sweep(tmp_path, results_dir, "--backends", "numpy", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert (results_dir / "day1.csv").is_file() and not (results_dir / "day1.lock").exists()


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_a_sweep_ended_by_an_error_or_interrupt_leaves_no_lock_file(tmp_path, results_dir, monkeypatch, error):
    import harness.commands.sweep

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(harness.commands.sweep, "write_outputs", fail)
    if isinstance(error, KeyboardInterrupt):
        assert tiny_sweep(tmp_path, results_dir, "--backends", "numpy", "--quiet").returncode == 130
    else:
        with pytest.raises(RuntimeError, match="boom"):
            tiny_sweep(tmp_path, results_dir, "--backends", "numpy", "--quiet")
    assert (results_dir / "day1.csv").is_file() and not (results_dir / "day1.lock").exists()


def test_the_committed_example_has_no_leftovers():
    results = ROOT / "results"
    assert (results / "example.csv").is_file()
    assert not list(results.glob("example*.lock")) and not list(results.glob("example*.passes.jsonl"))
