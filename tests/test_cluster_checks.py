"""Dask sweeps never wait in silence: workers are checked before submitting, stuck points become failed rows.

Every cluster here listens on 127.0.0.1 on a random free port: in-process
schedulers (``LocalCluster``), in-process workers where the task is harmless, and a
``dask worker`` subprocess where the worker has to die.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main
from harness.cluster import DaskExecutor
from harness.cluster_checks import ClusterOptions, NoBenchWorker, check_workers, worker_command
from harness.plugins import unload_plugin
from harness.results import MemoryWriter
from harness.sweeploop import run_sweep
from harness.timing import TimingConfig
from tests.conftest import run_cli, seed_peak
from tests.test_cli import ROOT

pytestmark = pytest.mark.xdist_group('test_cluster_checks')  # its module-scoped fixture runs once, on one worker

distributed = pytest.importorskip("distributed", reason="the 'dask' extra is not installed")
DATA = Path(__file__).parent / "data"
ONE_LAYER = ["--layers", str(DATA / "one_layer.toml"), "--budget-s", "0.1", "--repeats", "1", "--quiet",
             "--no-plots", "--no-report", "--settle-s", "0"]


def loopback_cluster(workers: int, resources: dict | None = None):
    """A LocalCluster on tcp://127.0.0.1 with in-process single-threaded workers (``resources`` on each)."""
    return distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=False, host="127.0.0.1",
                                    protocol="tcp", dashboard_address="127.0.0.1:0", resources=resources)


@pytest.fixture(scope="module")
def plain_worker():
    """A scheduler whose one worker was started without --resources bench=1."""
    with loopback_cluster(1) as cluster:
        yield cluster.scheduler_address


def sweep(address, results, *extra):
    return main(["sweep", *ONE_LAYER, "--backends", "numpy", "--scheduler", address,
                 "--results-dir", str(results), *extra])


def test_a_worker_without_the_bench_resource_exits_2_with_the_command(plain_worker, tmp_path, capsys):
    results = tmp_path / "results"
    assert sweep(plain_worker, results) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "none holds the bench resource" in err
    assert f"dask worker {plain_worker} --nthreads 1 --resources bench=1" in err and "--no-bench-resource" in err
    assert not results.exists()


def test_the_opt_out_flag_runs_there_and_warns(plain_worker, tmp_path, capsys):
    seed_peak(tmp_path)
    assert sweep(plain_worker, tmp_path, "--no-bench-resource", "--run-id", "plain") == 0
    err = capsys.readouterr().err
    assert "warning: --no-bench-resource" in err and "overlap on one host" in err
    table = pd.read_csv(tmp_path / "plain.csv")
    assert list(table["status"]) == ["ok"]
    assert json.loads((tmp_path / "plain.json").read_text())["bench_resource"] is False


def test_a_scheduler_without_workers_exits_2(tmp_path, capsys):
    with loopback_cluster(0) as cluster:
        assert sweep(cluster.scheduler_address, tmp_path / "results") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no worker is connected" in err
    assert worker_command(cluster.scheduler_address) in err and not (tmp_path / "results").exists()


def test_an_unreachable_scheduler_exits_2_within_the_connect_timeout_leaving_no_files(tmp_path):
    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    start = time.perf_counter()
    proc = run_cli("sweep", *ONE_LAYER, "--scheduler", f"tcp://127.0.0.1:{port}", "--connect-timeout-s", "1",
                   "--results-dir", tmp_path / "results", "--plots-dir", tmp_path / "plots")
    took = time.perf_counter() - start
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().count("\n") == 0 and f"cannot reach a Dask scheduler at tcp://127.0.0.1:{port} " \
        "within 1 s" in proc.stderr
    assert took < 10, took  # 1 s of connecting (no 20 s wait, no traceback)
    assert not list(tmp_path.iterdir())


def test_a_point_no_worker_can_take_becomes_a_failed_row(plain_worker):
    from harness.cases import build_cases
    from harness.layerfile import layers_preset

    cases = build_cases(layers_preset(str(DATA / "one_layer.toml")), {}, default_threads=1)
    writer, lines = MemoryWriter(), []
    with distributed.Client(plain_worker) as client:
        start = time.perf_counter()
        executor = DaskExecutor(client, options=ClusterOptions(queue_timeout_s=0.5), on_status=lines.append)
        executor.start(["numpy", "naive"])
        stats = run_sweep(cases, ["numpy", "naive"], TimingConfig(budget_s=0.1), writer, run_id="stuck",
                          executor=executor)
        took = time.perf_counter() - start
    assert stats.by_status == {"failed": 2} and took < 10, took
    for row in writer.rows:
        assert row["reason"].startswith("no worker took this point for 0.5 s: workers alive: 1 (127.0.0.1:")
        assert "with bench resource: 0" in row["reason"] and worker_command(plain_worker) in row["reason"]
    assert lines and all(line.startswith("cluster: ") for line in lines)
    assert "2 queued, 0 running, 0 done; workers alive: 1" in lines[0]


@pytest.fixture
def killer_backend():
    """The test plugin whose backend kills its worker; unregistered afterwards."""
    yield str(DATA / "killer_plugin.py")
    unload_plugin(str(DATA / "killer_plugin.py"))


def test_when_the_last_worker_dies_the_remaining_points_fail_and_the_sweep_ends(tmp_path, killer_backend):
    with loopback_cluster(0) as cluster:
        address = cluster.scheduler_address
        worker = subprocess.Popen([sys.executable, "-m", "dask", "worker", address, "--nthreads", "1", "--no-nanny",
                                   "--resources", "bench=1", "--no-dashboard", "--host", "127.0.0.1"],
                                  env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            with distributed.Client(address) as client:
                client.wait_for_workers(1, timeout=60)
            seed_peak(tmp_path)
            code = main(["sweep", *ONE_LAYER, "--plugin", killer_backend, "--backends", "test-worker-killer,numpy",
                         "--scheduler", address, "--queue-timeout-s", "1", "--results-dir", str(tmp_path),
                         "--run-id", "killed"])
        finally:
            worker.kill()
            worker.wait(timeout=30)
    assert code == 0
    table = pd.read_csv(tmp_path / "killed.csv").set_index("backend")
    killed = table.loc["test-worker-killer"]
    assert killed["status"] == "failed"
    assert killed["reason"].startswith("no worker took this point for 1 s: workers alive: 0 (none)")
    assert "1 left during the sweep" in killed["reason"]
    assert table.loc["numpy", "status"] in ("ok", "failed")  # ran before the killer, or was left without a worker


def test_workers_without_the_resource_are_named_and_a_partial_cluster_only_warns():
    class Client:
        def __init__(self, resources):
            self.workers = {f"tcp://10.0.0.{i}:1": {"resources": r} for i, r in enumerate(resources)}

        def scheduler_info(self, n_workers=-1):
            return {"workers": self.workers}

    with pytest.raises(NoBenchWorker, match="none holds the bench resource"):
        check_workers(Client([{}, {"gpu": 1}]), "tcp://h:1")
    assert check_workers(Client([{"bench": 1}]), "tcp://h:1") == []
    [note] = check_workers(Client([{"bench": 1}, {}]), "tcp://h:1")
    assert note.startswith("1 of 2 workers at tcp://h:1 lack the bench resource")
    assert "overlap on one host" in check_workers(Client([{}]), "tcp://h:1", bench_resource=False)[0]
    assert issubclass(NoBenchWorker, ValueError)


def test_a_connection_error_waits_for_the_client_to_notice_the_lost_scheduler():
    # a future can raise CommClosedError before the client's status leaves "running": that point must be left to
    # --resume (ClusterLost), not become a failed row; a task's own error is judged at once
    from harness.cluster_checks import scheduler_lost

    class Client:
        status = "running"

    class Clock:
        t = 0.0

        def __call__(self):
            return self.t

    client, clock, sleeps = Client(), Clock(), []

    def sleep(s):
        sleeps.append(s)
        clock.t += s
        if len(sleeps) == 3:
            client.status = "connecting"

    assert scheduler_lost(client, ConnectionResetError("comm closed"), clock=clock, sleep=sleep) and len(sleeps) == 3
    client.status, sleeps[:] = "running", []
    assert not scheduler_lost(client, ValueError("the kernel raised"), clock=clock, sleep=sleep) and not sleeps
    clock.t, sleeps[:] = 0.0, [1, 2, 3]  # the status never changes: after the grace period it is a task failure
    assert not scheduler_lost(client, OSError("refused"), grace_s=1.0, clock=clock, sleep=sleep)
    client.status = "closed"
    assert scheduler_lost(client, None)
