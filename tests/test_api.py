"""The Python API: harness.sweep / load / compare and Run, in-process, against the CLI's own files."""
from __future__ import annotations

import matplotlib.figure
import pandas as pd
import pytest

import harness
from harness.cli import main

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
    assert run.run_id == "api" and len(run.table) == 12
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
    assert set(result["verdict"]) <= {"same", "inconclusive"}
    assert {"verdict", "ratio", "p_value"} <= set(result.columns)


def test_bad_requests_are_value_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown preset 'vgg'"):
        harness.sweep("vgg", results_dir=tmp_path)
    with pytest.raises(ValueError, match="invalid run id"):
        harness.sweep("smoke", run_id="../x", results_dir=tmp_path)
    with pytest.raises(ValueError, match="no such run"):
        harness.load("never", results_dir=tmp_path)
