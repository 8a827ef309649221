"""Sweeps on a local Dask cluster: same rows as the local executor, host-serialized timing, dead workers."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main
from harness.cluster import parse_scheduler
from harness.plugins import unload_plugin
from tests.conftest import run_cli, seed_peak

pytest.importorskip("distributed", reason="the 'dask' extra is not installed")
KILLER = Path(__file__).parent / "data" / "killer_plugin.py"
ONE_LAYER = Path(__file__).parent / "data" / "one_layer.toml"
COMMON = ["sweep", "--preset", "smoke", "--backends", "numpy,naive,numba-cpu", "--budget-s", "0.1", "--quiet",
          "--no-plots", "--no-report", "--settle-s", "0", "--no-fused"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cluster")
    seed_peak(tmp)
    for run_id, extra in (("local", []), ("dask", ["--scheduler", "local:2"])):
        proc = run_cli(*COMMON, "--results-dir", tmp, "--run-id", run_id, *extra)
        assert proc.returncode == 0, proc.stderr
    return tmp


def test_cluster_rows_match_the_local_executor(runs):
    key = ["backend", "case", "status", "flops"]
    local, dask = (pd.read_csv(runs / f"{r}.csv").sort_values(key[:2])[key].reset_index(drop=True)
                   for r in ("local", "dask"))
    pd.testing.assert_frame_equal(local[key[:2] + ["flops"]], dask[key[:2] + ["flops"]])
    # the same statuses, except that the naive backend's time estimate on a busy machine may skip a point
    # in one run and not the other (its reason says so)
    differ = local["status"] != dask["status"]
    assert (local[differ]["backend"] == "naive").all() and set(local[differ]["status"]) | set(
        dask[differ]["status"]) <= {"ok", "skipped"}
    table = pd.read_csv(runs / "dask.csv")
    timed = table[table["status"] == "ok"]
    assert table["host"].notna().all() and (timed["rounds"] >= 5).all()
    meta = json.loads((runs / "dask.json").read_text())
    assert list(meta["hosts"]) == list(set(table["host"])) and meta["settings"]["scheduler"] == "local:2"


def test_timed_regions_never_overlap_on_one_host(runs):
    table = pd.read_csv(runs / "dask.csv")
    for _, rows in table.groupby("host"):
        rows = rows.sort_values("t_start")
        assert (rows["t_end"] >= rows["t_start"]).all()
        assert (rows["t_start"].to_numpy()[1:] >= rows["t_end"].to_numpy()[:-1]).all()


def test_a_worker_that_dies_mid_point_is_retried_then_failed(tmp_path):
    import dask

    seed_peak(tmp_path)
    try:  # the dead worker's host lock frees when its lease ends: 2 s here (8 s by default on local clusters)
        with dask.config.set({"distributed.scheduler.locks.lease-timeout": "2s"}):
            proc = run_cli("sweep", "--layers", ONE_LAYER, "--plugin", KILLER, "--backends", "numpy,test-worker-killer",
                           "--budget-s", "0.1", "--repeats", "1", "--scheduler", "local:2", "--quiet", "--no-plots",
                           "--no-report", "--results-dir", tmp_path, "--run-id", "killed", "--settle-s", "0")
    finally:
        unload_plugin(str(KILLER))
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(tmp_path / "killed.csv")
    killed = table[table["backend"] == "test-worker-killer"]
    assert len(killed) == 1 and (killed["status"] == "failed").all()
    assert killed["reason"].str.contains("KilledWorker").all()  # died, retried once elsewhere, died again
    numpy_rows = table[table["backend"] == "numpy"]
    assert len(numpy_rows) == 1 and (numpy_rows["status"] == "ok").all()


@pytest.mark.parametrize("text, ok", [("local:2", True), ("tcp://10.0.0.1:8786", True), ("local:0", False),
                                      ("localhost", False)])
def test_scheduler_addresses(text, ok):
    if ok:
        assert parse_scheduler(text)[0] in ("local", "remote")
    else:
        with pytest.raises(ValueError, match="--scheduler"):
            parse_scheduler(text)


def test_without_dask_scheduler_exits_2_naming_the_extra(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "distributed", None)
    assert main(["sweep", "--scheduler", "local:2", "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "install the 'dask' extra" in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())
