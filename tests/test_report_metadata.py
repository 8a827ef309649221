"""A run's metadata of the wrong JSON type: ``report``, ``plot`` and ``report --index`` name the file and the field
(exit 2), or leave the run out of the index with a warning naming it; never a traceback."""
from __future__ import annotations

import json

import pytest

from harness.results import read_metadata
from tests.conftest import run_cli
from tests.test_history import write_run


@pytest.mark.parametrize("field, value", [("preset", ["x"]), ("blas", "x"), ("blas", -5), ("blas", [1]),
                                          ("numba_cpu_vectors", "x"), ("numba_cpu_vectors", -5),
                                          ("started_at", None), ("started_at", 5), ("git_commit", {"a": 1})])
def test_report_and_plot_name_a_field_of_the_wrong_type(tmp_path, field, value):
    files = write_run(tmp_path, "r1", 1)
    meta = json.loads(files.metadata.read_text())
    meta[field] = value
    files.metadata.write_text(json.dumps(meta))
    for command in ("report", "plot"):
        result = run_cli(command, "r1", "--results-dir", tmp_path, "--plots-dir", tmp_path / "plots")
        if value is None:  # null is an absent field: the page is written
            assert result.returncode == 0, result.stderr
            continue
        assert result.returncode == 2 and "Traceback" not in result.stderr, (command, result.stderr)
        assert result.stderr.count("\n") == 1 and "r1.json" in result.stderr and f"{field} must be" in result.stderr


def test_read_metadata_accepts_what_sweeps_write(tmp_path):
    files = write_run(tmp_path, "r1", 1)
    meta = json.loads(files.metadata.read_text())
    meta.update(blas=[{"internal_api": "openblas", "version": "0.3", "num_threads": 2}], gpu={"name": "H200"},
                numba_cpu_vectors={"vector_bits": 512}, versions={"numpy": "2"}, finished_at="2026-01-01T00:00:00")
    files.metadata.write_text(json.dumps(meta))
    assert read_metadata(files.metadata)["blas"][0]["version"] == "0.3"


@pytest.mark.parametrize("date", [None, 5])
def test_the_index_survives_a_run_with_a_bad_date_and_names_the_runs_it_leaves_out(tmp_path, date):
    write_run(tmp_path, "good", 1)
    files = write_run(tmp_path, "odd", 2)
    meta = json.loads(files.metadata.read_text())
    meta["started_at"] = date
    files.metadata.write_text(json.dumps(meta))
    (tmp_path / "junk.csv").write_text("not,a,run\n1,2,3\n")
    result = run_cli("report", "--index", "--results-dir", tmp_path, "--plots-dir", tmp_path / "plots")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    page = (tmp_path / "plots" / "index.html").read_text()
    assert "good" in page
    assert ("odd" in page) == (date is None)  # a number is not a date: that run is left out, and named
    assert "junk.csv" in result.stderr and ("odd.csv" in result.stderr) == (date is not None)
