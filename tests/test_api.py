"""The Python API: harness.sweep / load / compare and Run, in-process, against the CLI's own files."""
from __future__ import annotations

import re
from pathlib import Path

import matplotlib.figure
import pandas as pd
import pytest

import harness
from harness.cli import main
from harness.presets import get_preset

pytestmark = pytest.mark.xdist_group('test_api')  # its module-scoped fixture runs once, on one worker

SMALL = dict(backends=["numpy", "naive"], budget_s=0.05, repeats=1, settle_s=0.0)


@pytest.fixture(scope="module")
def api_run(tmp_path_factory):
    from tests.conftest import seed_peak

    tmp = tmp_path_factory.mktemp("api")
    seed_peak(tmp / "results")
    run = harness.sweep("smoke", results_dir=tmp / "results", plots_dir=tmp / "plots", run_id="api", **SMALL)
    return tmp, run


def test_sweep_returns_a_run_with_tables_in_sweep_order(api_run):
    tmp, run = api_run
    assert run.run_id == "api" and len(run.table) == 2 * len(get_preset("smoke").layers)
    assert list(run.table["point"]) == sorted(run.table["point"])
    assert {"flags", "trusted", "rel_ci", "desc", "count"} <= set(run.table.columns)
    assert set(run.samples.columns) >= {"backend", "case", "round", "time_s"}
    assert run.metadata["settings"]["repeats"] == 1 and run.metadata["cpu_isa"]
    assert {"time_saving_lo", "efficiency_hi", "trusted"} <= set(run.reduction.columns)
    assert run.verdicts and any("fewer FLOPs; time saved" in line for line in run.verdicts)
    assert set(run.totals["backend"]) == {"numpy", "naive"}


def test_the_cli_and_the_api_give_the_same_table(api_run):
    tmp, run = api_run
    code = main(["sweep", "--preset", "smoke", "--backends", "numpy,naive", "--budget-s", "0.05", "--repeats", "1",
                 "--settle-s", "0", "--results-dir", str(tmp / "results"), "--plots-dir", str(tmp / "plots"),
                 "--run-id", "cli", "--quiet", "--no-plots", "--no-report"])
    assert code == 0
    cli = harness.load("cli", results_dir=tmp / "results").table
    shape = ["backend", "case", "N", "C", "H", "W", "F", "k", "stride", "padding", "flops", "bytes", "desc", "count"]
    pd.testing.assert_frame_equal(cli[shape], run.table[shape])


def test_load_plot_report_and_notebook_view(api_run):
    tmp, run = api_run
    again = harness.load(tmp / "results" / "api.csv")
    pd.testing.assert_frame_equal(again.table, run.table)
    for kind in ("gflops", "speedup", "reduction", "roofline"):
        assert isinstance(run.plot(kind), matplotlib.figure.Figure)
    with pytest.raises(ValueError, match="unknown figure 'pie'"):
        run.plot("pie")
    with pytest.raises(ValueError, match="nothing to draw as 'threads'"):
        run.plot("threads")
    page = run.report()
    assert page.is_file() and "data:image/png;base64," in page.read_text()
    html = run._repr_html_()
    assert "convbench run" in html and "<table>" in html and "fewer FLOPs" in html


def test_compare_takes_runs_or_ids(api_run):
    tmp, run = api_run
    result = harness.compare(run, "api", results_dir=tmp / "results")
    timed = result["ratio"].notna()
    assert set(result.loc[timed, "verdict"]) <= {"same", "inconclusive"}
    # a point the sweep skipped (naive's cost estimate over the tiny budget on a loaded machine) is in neither run
    assert set(result.loc[~timed, "verdict"]) <= {"unavailable"}
    assert timed.sum() == (run.table["status"] == "ok").sum()
    assert {"verdict", "ratio", "p_value"} <= set(result.columns)


def test_bad_requests_are_value_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown preset 'vgg'"):
        harness.sweep("vgg", results_dir=tmp_path)
    with pytest.raises(ValueError, match="invalid run id"):
        harness.sweep("smoke", run_id="../x", results_dir=tmp_path)
    with pytest.raises(ValueError, match="no such run"):
        harness.load("never", results_dir=tmp_path)


QUICK = dict(backends=["numpy"], budget_s=0.02, repeats=1, settle_s=0, plots=False, report=False)


def test_zero_is_a_value_and_an_empty_backend_list_is_refused(results_dir):
    run = harness.sweep("smoke", results_dir=results_dir, run_id="zero", **QUICK)
    assert run.metadata["settings"]["settle_s"] == 0  # not dropped for looking like False
    with pytest.raises(ValueError, match="repeats must be between 1 and 1000 .*, got 0"):
        harness.sweep("smoke", results_dir=results_dir, **{**QUICK, "repeats": 0})
    with pytest.raises(ValueError, match="backends is empty"):
        harness.sweep("smoke", results_dir=results_dir, **{**QUICK, "backends": []})
    with pytest.raises(ValueError, match=r"target_rel_ci must be between 0 and 1 \(a fraction of the median"):
        harness.sweep("smoke", results_dir=results_dir, **{**QUICK, "target_rel_ci": 2})  # 2 for 2%: a typo
    again = harness.sweep(resume="zero", results_dir=results_dir, plots=False, report=False)  # nothing left to do
    pd.testing.assert_frame_equal(again.table, run.table)


def test_axes_take_any_iterable_and_run_ids_never_collide(tmp_path):
    import numpy as np

    from harness.api import axis_settings
    from harness.engine import claim_run

    assert axis_settings({"N": range(1, 3), "k": np.array([1, 3]), "dtype": "float32"}) == [
        ["N", [1, 2]], ["k", [1, 3]], ["dtype", ["float32"]]]
    with pytest.raises(TypeError, match="axes must be a dict"):
        axis_settings([("N", [1])])
    with pytest.raises(ValueError, match="unknown axis 'Q'"):
        axis_settings({"Q": [1]})
    first, lock = claim_run(tmp_path, tmp_path, None, "smoke", resume=False)
    lock.release()
    (tmp_path / f"{first.run_id}.csv").write_text("run_id\n")
    second, lock = claim_run(tmp_path, tmp_path, None, "smoke", resume=False)
    held, _ = claim_run(tmp_path, tmp_path, None, "smoke", resume=False)  # second's lock is held: a third id
    lock.release()
    assert len({first.run_id, second.run_id, held.run_id}) == 3
    assert second.run_id == f"{first.run_id}-2" or second.run_id > first.run_id


def test_plugins_loaded_in_the_session_reach_the_workers(results_dir, monkeypatch):
    from harness.plugins import load_plugin, unload_plugin
    from tests.test_plugins import EXAMPLE_PLUGIN

    monkeypatch.chdir(EXAMPLE_PLUGIN.parent.parent)
    relative = EXAMPLE_PLUGIN.relative_to(EXAMPLE_PLUGIN.parent.parent)  # examples/fft_backend.py
    try:
        assert load_plugin(relative) == ["fft"]
        assert load_plugin(EXAMPLE_PLUGIN) == ["fft"]  # one plugin, however its path is spelled
        run = harness.sweep("smoke", results_dir=results_dir, run_id="fft", **{**QUICK, "backends": ["fft"]})
    finally:
        unload_plugin(EXAMPLE_PLUGIN)
    assert set(run.table["status"]) == {"ok"}, run.table["reason"].tolist()
    assert run.metadata["settings"]["plugins"] == [str(EXAMPLE_PLUGIN.resolve())]


def test_a_backend_defined_in_a_notebook_is_named_unless_measured_in_process(results_dir, monkeypatch):
    import sys
    import types

    import kernels

    notebook = types.ModuleType("__main__")  # no __file__; multiprocessing aliases it as __mp_main__
    monkeypatch.setitem(sys.modules, "__main__", notebook)
    monkeypatch.setitem(sys.modules, "__mp_main__", notebook)
    twice = type("Twice", (kernels.Backend,), dict(name="test-notebook", __module__="__main__",
                                                   prepare=lambda self, x, w, spec:
                                                   kernels.get_backend("numpy").prepare(x, w, spec)))
    kernels.register(twice)
    try:
        with pytest.raises(ValueError, match="test-notebook were defined in this notebook or REPL"):
            harness.sweep("smoke", results_dir=results_dir, **{**QUICK, "backends": ["test-notebook"]})
        run = harness.sweep("smoke", results_dir=results_dir, in_process=True,
                            **{**QUICK, "backends": ["test-notebook"]})
        assert set(run.table["status"]) == {"ok"}
    finally:
        kernels.unregister("test-notebook")


def test_a_sweep_while_a_worker_imports_the_script_says_to_guard_it(monkeypatch, tmp_path):
    import sys
    import types

    monkeypatch.setitem(sys.modules, "__mp_main__", types.ModuleType("__mp_main__"))
    with pytest.raises(RuntimeError, match='if __name__ == "__main__"'):
        harness.sweep("smoke", results_dir=tmp_path, **QUICK)
    assert not list(tmp_path.iterdir())


def test_compare_and_load_name_a_bad_argument(api_run):
    tmp, run = api_run
    results = tmp / "results"
    for kwargs, error, message in ((dict(alpha=2), ValueError, "alpha must be > 0 and < 1, got 2"),
                                   (dict(threshold="10%"), TypeError, "threshold must be a number (0.1 for 10%)"),
                                   (dict(threshold=float("nan")), ValueError, "threshold must be > 0"),
                                   (dict(alpha=True), TypeError, "alpha must be a number")):
        with pytest.raises(error, match=re.escape(message)):
            harness.compare(run, run, results_dir=results, **kwargs)
    with pytest.raises(TypeError, match="new must be a Run, a run id, a table path or a list of pytest-benchmark "
                                        "files, got DataFrame"):
        harness.compare(run, run.table)
    with pytest.raises(TypeError, match="takes a run id or a table path, got int"):
        harness.load(5)
    (results / "api.samples.csv").rename(results / "kept.csv")
    (results / "api.samples.csv").write_text("")  # a run killed before its first round: no samples yet
    try:
        assert len(harness.load("api", results_dir=results).samples) == 0
    finally:
        (results / "kept.csv").replace(results / "api.samples.csv")


class FsPath:
    """An os.PathLike that is not a pathlib.Path."""

    def __init__(self, path):
        self.path = str(path)

    def __fspath__(self):
        return self.path


def test_a_results_dir_that_is_not_a_path_is_named(api_run):
    tmp, run = api_run
    for call, param in ((lambda **kw: harness.load("api", **kw), "results_dir"),
                        (lambda **kw: harness.load("api", **kw), "plots_dir"),
                        (lambda **kw: harness.compare(run, "api", **kw), "results_dir"),
                        (lambda **kw: harness.sweep("smoke", **kw), "results_dir"),
                        (lambda **kw: harness.sweep("smoke", **kw), "plots_dir")):
        with pytest.raises(TypeError, match=rf"harness\.\w+\(\): {param} must be a str or os\.PathLike.*got int"):
            call(**{param: 5})
    assert harness.load("api", results_dir=FsPath(tmp / "results")).run_id == "api"  # any os.PathLike will do
    assert len(harness.compare(run, "api", results_dir=FsPath(tmp / "results")))


def test_sweep_keywords_are_checked_against_the_sweep_options(tmp_path):
    with pytest.raises(TypeError, match="fresh_peak is an on/off option: pass True or False, got 1"):
        harness.sweep("smoke", results_dir=tmp_path, fresh_peak=1)
    with pytest.raises(TypeError, match="unknown option 'colour'.*settle_s"):
        harness.sweep("smoke", results_dir=tmp_path, colour="red")
    for bad, message in (({"repeats": False}, "repeats takes one value, got False"),
                         ({"repeats": [1, 2]}, "repeats takes one value"),
                         ({"results-dir": "x"}, "unknown option 'results-dir'"),  # not a second --results-dir
                         ({"run_id_": "x"}, "unknown option"), ({"preset": None}, "preset must be a str, got NoneType"),
                         ({"results_dir": None}, "results_dir must be a str or os.PathLike"),
                         ({"axes": {"N": {1: 2}}}, "axes['N'] must be a value or a flat sequence"),
                         ({"backends": 5}, "backends must be a name or a list of names, got 5"),  # was 'int' object
                         ({"backends": ["numpy", 5]}, "backends must be a name or a list of names"),  # is not iterable
                         ({"plugin": 5}, "plugin takes a file or module name or a list of them, got 5"),
                         ({"quiet": "no"}, "quiet is an on/off option: pass True or False, got 'no'"),  # was True
                         ({"plots": 1}, "plots is an on/off option"), ({"report": None}, "report is an on/off option"),
                         ({"layers": 5}, "layers must be a layer file's path")):
        with pytest.raises(TypeError, match=re.escape(message)):
            harness.sweep(**{"preset": "smoke", "results_dir": tmp_path, **bad})
    assert not list(tmp_path.iterdir())


def test_a_sweep_piped_to_python_on_stdin_runs_its_workers(tmp_path):
    """``python -`` names its main module "<stdin>": workers must not try to run that path as a script."""
    import subprocess
    import sys

    from tests.conftest import seed_peak

    seed_peak(tmp_path)
    script = (f"import harness\nrun = harness.sweep('smoke', backends=['numpy'], budget_s=0.02, repeats=1, "
              f"settle_s=0, plots=False, report=False, results_dir={str(tmp_path)!r}, run_id='stdin')\n"
              "print(sorted(set(run.table['status'])))\n")
    proc = subprocess.run([sys.executable, "-"], input=script, capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parent.parent)
    assert proc.returncode == 0 and proc.stdout.strip() == "['ok']", proc.stderr[-2000:]


def test_sweeps_started_at_once_from_three_threads_get_three_runs(results_dir):
    import threading

    runs, errors = [], []

    def one() -> None:
        try:
            runs.append(harness.sweep("smoke", results_dir=results_dir, **QUICK))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not errors and len({run.run_id for run in runs}) == 3, errors
    for run in runs:
        assert set(run.table["status"]) == {"ok"} and len(run.table) == len(get_preset("smoke").layers)
        assert run.metadata["run_id"] == run.run_id


def test_a_sweep_whose_workers_cannot_start_raises_before_writing_a_run(tmp_path):
    from harness.plugins import unload_plugin

    plugin = Path(__file__).parent / "data" / "parent_only_plugin.py"
    try:
        with pytest.raises(ValueError, match="worker for test-parent-only could not start: .*refuses to load in a "
                                             "worker process"):
            harness.sweep("smoke", results_dir=tmp_path / "r", plugin=plugin,
                          **{**QUICK, "backends": ["test-parent-only"]})
    finally:
        unload_plugin(plugin)
    assert not (tmp_path / "r").exists() or not list((tmp_path / "r").iterdir())


def test_a_report_into_a_plots_dir_that_is_a_file_is_a_value_error(tmp_path, smoke_run):
    """Was NotADirectoryError from deep inside the figure writer."""
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    run = harness.load(smoke_run[0] / "results" / "smoke-test.csv", plots_dir=blocker)
    with pytest.raises(ValueError, match=r"afile is a file, not a folder \(give another plots_dir\)"):
        run.report()
    assert blocker.read_text() == "not a folder"


def test_a_run_without_reduction_pairs_has_no_reduction(results_dir):
    """The threads preset has no reduce/direct pair: None, as the docs say (was a 0-row frame)."""
    run = harness.sweep("threads", results_dir=results_dir, run_id="thr", **QUICK)
    assert run.reduction is None and len(run.table) > 0


def test_run_plot_names_every_figure_kind_in_its_docstring():
    from harness.api import FIGURE_KINDS, Run

    assert all(kind in Run.plot.__doc__ for kind in FIGURE_KINDS)
