"""The regression gate end to end: a real smoke sweep, a copy of it with one backend slowed, through the CLI.

The issue's case: smoke points take 2-5 us; numpy's rows there multiplied by 1.6 (time_s, time_min_s
and every sample: the same noise, a clean slowdown) were all "inconclusive" under the fixed 10 us floor.
"""
from __future__ import annotations

import json
import warnings

import pandas as pd
import pytest

import harness
from harness.comparison import exit_code

from .conftest import run_cli

pytestmark = pytest.mark.xdist_group('smoke_run')  # the session's smoke sweep runs once, on one worker


def slowed_copy(results, folder, backend: str, factor: float, run_id: str = "slowed"):
    """Copy run smoke-test into ``folder`` as ``run_id`` with ``backend``'s times multiplied by ``factor``."""
    table = pd.read_csv(results / "smoke-test.csv")
    samples = pd.read_csv(results / "smoke-test.samples.csv")
    hit = table["backend"] == backend
    table.loc[hit, ["time_s", "time_min_s", "time_iqr_s"]] *= factor
    samples.loc[samples["backend"] == backend, "time_s"] *= factor
    table["run_id"], samples["run_id"] = run_id, run_id
    table.to_csv(folder / f"{run_id}.csv", index=False)
    samples.to_csv(folder / f"{run_id}.samples.csv", index=False)
    (folder / f"{run_id}.json").write_text((results / "smoke-test.json").read_text())
    return folder / f"{run_id}.csv"


@pytest.mark.parametrize("factor", [1.3, 1.6])
def test_a_slowed_microsecond_backend_exits_1_and_only_it_is_named(smoke_run, tmp_path, factor):
    tmp, _ = smoke_run
    results = tmp / "results"
    slowed = slowed_copy(results, tmp_path, "numpy", factor)
    html = tmp_path / "cmp.html"
    proc = run_cli("compare", results / "smoke-test.csv", slowed, "--html", html, "--results-dir", tmp_path)
    result = harness.compare(results / "smoke-test.csv", slowed, results_dir=tmp_path)
    numpy_rows = result[result["backend"] == "numpy"]
    # a row the smoke run measured on a slowed core (flag `disturbed`, harness.probe) is never judged
    slowed_core = numpy_rows["note"].str.contains("(disturbed)", regex=False)
    assert (numpy_rows.loc[slowed_core, "verdict"] == "inconclusive").all()
    numpy_rows = numpy_rows[~slowed_core]
    # `detectable` is what it says: every numpy row that could see this slowdown is slower, the others
    # (rounds too noisy on a loaded machine) are inconclusive because of their rounds - never same
    assert (numpy_rows["verdict"] == "slower").tolist() == (numpy_rows["detectable"] < factor).tolist()
    assert all("rounds' spread" in n for n in numpy_rows.loc[numpy_rows["verdict"] != "slower", "note"])
    others = result[(result["backend"] != "numpy") & result["ratio"].notna()]
    assert set(others["verdict"]) == {"same"}
    if not (numpy_rows["detectable"] < factor).any():
        pytest.skip(f"no numpy row of this smoke run could detect {factor}x (machine too loaded): exit 3 checked")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    named = proc.stdout.split("regression(s):")[1]
    assert "numpy | " in named
    for other in ("naive", "numba-cpu", "torch"):
        assert other not in named
    page = html.read_text()
    assert "<th>detectable</th>" in page and "could detect" in page and "regression(s)" in page


def test_a_slowed_copy_with_its_passes_is_judged_on_paced_median_passes(smoke_run, tmp_path):
    # the copy above has no passes file (pooled rounds); here every pass record is copied too, numpy's scaled:
    # the judgement goes through the pace (harness.pace) and the median passes, as a real sweep's does
    tmp, _ = smoke_run
    results = tmp / "results"
    slowed = slowed_copy(results, tmp_path, "numpy", 1.6)
    records = [json.loads(line) for line in (results / "smoke-test.passes.jsonl").read_text().splitlines()]
    timed = [r for r in records if r["row"].get("status") == "ok" and r["row"].get("device") == "cpu"]
    assert timed and all(r["row"]["pace_s"] > 0 for r in timed)  # every timed CPU pass read the machine's pace
    for record in records:
        if record["key"][0] == "numpy":
            record["samples_s"] = [t * 1.6 for t in record["samples_s"]]
    (tmp_path / "slowed.passes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    result = harness.compare(results / "smoke-test.csv", slowed, results_dir=tmp_path)
    judged = result[result["ratio"].notna()]
    numpy_rows = judged[(judged["backend"] == "numpy") & ~judged["note"].str.contains("(disturbed)", regex=False)]
    assert numpy_rows["ratio"].round(6).eq(1.6).all()  # both runs' passes at one pace: the ratio as injected
    assert set(numpy_rows["verdict"]) <= {"slower", "inconclusive"}  # never same: it moved 1.6x
    assert (numpy_rows.loc[numpy_rows["detectable"] < 1.6, "verdict"] == "slower").all()  # what it could see
    assert (numpy_rows["verdict"] == "slower").any() and exit_code(result) == 1
    assert set(judged.loc[judged["backend"] != "numpy", "verdict"]) == {"same"}


def test_a_run_against_itself_exits_0(smoke_run):
    tmp, _ = smoke_run
    results = tmp / "results"
    proc = run_cli("compare", "smoke-test", "smoke-test", "--results-dir", results)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no regression" in proc.stdout and "warning" not in proc.stderr


def test_a_slowed_noisy_backend_is_slower_or_inconclusive_and_nothing_else_moves(smoke_run, tmp_path):
    # numba-cpu on a shared 2-vCPU machine can wait a whole time slice for a descheduled thread: its rows may
    # be too noisy to judge, but they are never "same", and no other backend is touched
    tmp, _ = smoke_run
    results = tmp / "results"
    slowed = slowed_copy(results, tmp_path, "numba-cpu", 1.6)
    proc = run_cli("compare", results / "smoke-test.csv", slowed, "--markdown", tmp_path / "cmp.md")
    assert proc.returncode in (1, 3), proc.stdout + proc.stderr
    result = harness.compare(results / "smoke-test.csv", slowed, results_dir=tmp_path)
    rows = result[result["backend"] == "numba-cpu"]
    assert set(rows["verdict"]) <= {"slower", "inconclusive"}
    assert all("rounds' spread" in n or "(disturbed)" in n
               for n in rows.loc[rows["verdict"] == "inconclusive", "note"])
    others = result[(result["backend"] != "numba-cpu") & result["ratio"].notna()]
    assert set(others["verdict"]) == {"same"}
    assert exit_code(result) == proc.returncode
    judged = result[result["ratio"].notna()]
    assert (judged["detectable"] > 1).all() and judged["detectable"].map(float).notna().all()
    assert "| detectable |" in (tmp_path / "cmp.md").read_text()


def test_the_python_api_returns_and_shows_the_clis_warnings(smoke_run, tmp_path):
    tmp, _ = smoke_run
    results = tmp / "results"
    slowed_copy(results, tmp_path, "numpy", 1.6)
    meta = json.loads((tmp_path / "slowed.json").read_text())
    meta["cpu_model"] = "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz"
    (tmp_path / "slowed.json").write_text(json.dumps(meta))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = harness.compare(harness.load("smoke-test", results_dir=results), "slowed", results_dir=tmp_path)
    assert any("different CPU models" in w for w in result.attrs["warnings"])
    assert any("different CPU models" in str(w.message) for w in caught)
    proc = run_cli("compare", results / "smoke-test.csv", tmp_path / "slowed.csv", "--results-dir", tmp_path)
    for w in result.attrs["warnings"]:
        assert w in proc.stderr
