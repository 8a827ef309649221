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
from harness.presets import get_preset
from tests.conftest import run_cli, seed_peak

pytestmark = pytest.mark.xdist_group('test_cluster')  # its module-scoped fixture runs once, on one worker

pytest.importorskip("distributed", reason="the 'dask' extra is not installed")
KILLER = Path(__file__).parent / "data" / "killer_plugin.py"
ONE_LAYER = Path(__file__).parent / "data" / "one_layer.toml"
COMMON = ["sweep", "--preset", "smoke", "--backends", "numpy,naive,numba-cpu,numba-cpu-fused", "--budget-s", "0.1",
          "--quiet", "--no-plots", "--no-report", "--settle-s", "0", "--repeats", "2"]
#: The three executors of one engine: this process, a worker process per backend, a local Dask cluster.
EXECUTORS = {"local": ["--in-process"], "worker": [], "dask": ["--scheduler", "local:2"]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cluster")
    seed_peak(tmp)
    for run_id, extra in EXECUTORS.items():
        proc = run_cli(*COMMON, "--results-dir", tmp, "--run-id", run_id, *extra)
        assert proc.returncode == 0, proc.stderr
    return tmp


def test_local_worker_and_dask_sweeps_give_the_same_rows_fused_included(runs):
    key = ["point", "backend", "case", "flops"]
    tables = {r: pd.read_csv(runs / f"{r}.csv").sort_values("point").reset_index(drop=True) for r in EXECUTORS}
    for run_id, table in tables.items():
        pd.testing.assert_frame_equal(table[key], tables["local"][key], obj=run_id)
        assert (table["role"] == "fused").sum() == 4 and list(table["point"]) == list(range(len(table)))
        # the same statuses, except that the naive backend's time estimate on a busy machine may skip a point
        # in one run and not the other (its reason says so)
        differ = table["status"] != tables["local"]["status"]
        assert (table[differ]["backend"] == "naive").all() and set(table[differ]["status"]) | set(
            tables["local"][differ]["status"]) <= {"ok", "skipped"}
    fused = tables["dask"][tables["dask"]["role"] == "fused"]
    assert (fused["status"] == "ok").all() and (fused["passes"] >= 1).all()
    assert set(fused["backend"]) == {"numba-cpu-fused"}
    # every pass of the fused points ran through the engine (a busy core may leave slow ones out of the row)
    records = [json.loads(line)["key"] for line in (runs / "dask.passes.jsonl").read_text().splitlines()]
    assert sum(key[0] == "numba-cpu-fused" for key in records) >= 2 * len(fused)
    table = tables["dask"]
    timed = table[table["status"] == "ok"]
    assert table["host"].notna().all() and (timed["rounds"] >= 5).all()
    meta = json.loads((runs / "dask.json").read_text())
    assert list(meta["hosts"]) == list(set(table["host"])) and meta["settings"]["scheduler"] == "local:2"
    assert meta["versions"]["numba"] and meta["schema_version"] >= 2


def test_timed_regions_never_overlap_on_one_host(runs):
    passes = [json.loads(line)["row"] for line in (runs / "dask.passes.jsonl").read_text().splitlines()]
    timed = pd.DataFrame([p for p in passes if p.get("t_start") is not None])
    assert len(timed) >= 2 * len(pd.read_csv(runs / "dask.csv").query("status == 'ok'"))  # every pass of every point
    for _, rows in timed.groupby("host"):
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


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_scheduler_lost_mid_sweep_leaves_the_rest_to_resume(tmp_path):
    """Kill the scheduler after the first passes: exit 75 saying so, no failed rows, and --resume finishes the run."""
    import os
    import subprocess
    import threading
    import time

    root, port = Path(__file__).resolve().parent.parent, free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(root)}
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    scheduler = subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port",
                                  str(port), "--no-dashboard"], **quiet)
    worker = subprocess.Popen([sys.executable, "-m", "dask", "worker", address, "--nthreads", "1", "--resources",
                               "bench=1", "--no-dashboard", "--host", "127.0.0.1"], **quiet)
    passes = tmp_path / "lost.passes.jsonl"

    def kill_after_two_passes() -> None:
        deadline = time.time() + 120
        while time.time() < deadline and (not passes.exists() or len(passes.read_text().splitlines()) < 2):
            time.sleep(0.05)
        scheduler.kill()

    try:
        from distributed import Client

        with Client(address, timeout="60s") as client:
            client.wait_for_workers(1, timeout=60)
        seed_peak(tmp_path)
        killer = threading.Thread(target=kill_after_two_passes, daemon=True)
        killer.start()
        proc = run_cli("sweep", "--preset", "smoke", "--backends", "numpy", "--budget-s", "0.3", "--repeats", "3",
                       "--settle-s", "0", "--quiet", "--no-plots", "--no-report", "--scheduler", address,
                       "--results-dir", tmp_path, "--run-id", "lost")
        killer.join(timeout=130)
    finally:
        for process in (scheduler, worker):
            process.kill()
            process.wait(timeout=30)
    assert proc.returncode == 75, proc.stderr
    assert "the Dask scheduler went away mid-sweep" in proc.stderr and "--resume lost" in proc.stderr
    meta = json.loads((tmp_path / "lost.json").read_text())
    assert meta["status"] == "interrupted" and meta["interrupted_by"] == "lost cluster"
    table = tmp_path / "lost.csv"
    before = pd.read_csv(table) if table.exists() else pd.DataFrame(columns=["status"])
    layers = len(get_preset("smoke").layers)
    assert len(before) < layers and "failed" not in set(before["status"]), \
        before.reindex(columns=["case", "status", "reason"]).to_string()  # unfinished points are not failed rows
    again = run_cli("sweep", "--resume", "lost", "--in-process", "--quiet", "--no-plots", "--no-report",
                    "--results-dir", tmp_path)
    assert again.returncode == 0, again.stderr
    after = pd.read_csv(table)
    assert len(after) == layers and set(after["status"]) == {"ok"} and not after.duplicated(["backend", "case"]).any()
