"""Sweeps on a Dask cluster: every (backend, case) point is one task, one point per worker at a time.

``--scheduler tcp://HOST:8786`` submits to a running cluster; ``--scheduler local:N``
starts a ``LocalCluster`` of N single-threaded worker processes. Every task needs
the worker resource ``bench=1`` (start workers with ``--resources bench=1``; checked
before submitting, see :mod:`harness.cluster_checks`), so a worker runs one point at
a time; points on one host take a ``distributed.Lock`` named after the host, so
workers sharing a machine never measure at the same time. A worker that dies
mid-point gets the point retried once elsewhere (``allowed-failures = 1`` on a local
cluster), then the point is a ``failed`` row; points no worker takes for
``--queue-timeout-s`` become ``failed`` rows too. Rows stream back as they complete
and are appended like a local sweep's.
"""
from __future__ import annotations

import contextlib
import socket
import time
import uuid
from collections.abc import Callable, Sequence

from .cases import Case, point_key
from .casedata import case_data_or_problem
from .cluster_checks import ClusterOptions, completions, connect
from .jobs import PointJob, device_of, run_job
from .measure import combine_passes
from .rows import PointResult, error_reason, failed_point
from .sweeploop import SweepStats
from .timing import TimingConfig, pass_config
from .trust import with_trust

DASK_MISSING = "--scheduler needs Dask: install the 'dask' extra (pip install 'convbench[dask]')"


def check_dask() -> None:
    """Raise ImportError with install advice when dask.distributed is missing."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ImportError(DASK_MISSING) from None


def parse_scheduler(text: str) -> tuple[str, int | str]:
    """``local:N`` -> ("local", N); ``tcp://host:port`` (or any address) -> ("remote", address)."""
    if text.startswith("local:"):
        count = text.split(":", 1)[1]
        if not count.isdigit() or int(count) < 1:
            raise ValueError(f"--scheduler {text!r}: expected local:N with N >= 1 workers")
        return "local", int(count)
    if "://" not in text:
        raise ValueError(f"--scheduler {text!r}: expected local:N or an address such as tcp://HOST:8786")
    return "remote", text


def host_info() -> dict:
    """This worker's host, CPU and GPU (run on every worker for the run's metadata)."""
    import os

    from .metadata import cpu_model, gpu_info, memory_gib

    return dict(host=socket.gethostname(), cpu_model=cpu_model(), cpu_count=os.cpu_count(),
                memory_gib=memory_gib(), gpu=gpu_info())


def run_point_task(backend: str, case: Case, config: TimingConfig, run_id: str, timed: bool, repeats: int,
                   plugins: Sequence[str]) -> tuple[dict, tuple]:
    """Measure one point on a worker: its passes back to back, under the host's timing lock.

    A pure function of its inputs returning (row, samples); the row records the host,
    the GPU (if any) and the wall-clock start and end of the point (``t_start``, ``t_end``).
    """
    from .metadata import gpu_info
    from .plugins import load_plugin
    from distributed import Lock

    from .threads import max_threads, thread_limits

    import kernels

    for ref in plugins:
        load_plugin(ref)
    kernels.get_backend(backend).unavailable_reason()  # import torch & co. before thread_limits reaches them
    host = socket.gethostname()
    lock = Lock(f"convbench-timing-{host}")
    one_pass = pass_config(config, repeats)
    results: list[PointResult] = []
    with lock:
        t_start = time.time()
        data, problem = case_data_or_problem(case)
        if problem:
            results.append(failed_point(run_id, backend, device_of(backend), case, problem))
        else:
            with thread_limits(min(case.threads, max_threads())):
                for _ in range(repeats if timed else 1):
                    results.append(run_job(PointJob(backend, case, one_pass, run_id, timed, config.budget_s), data))
                    if results[-1].status != "ok":
                        break
        t_end = time.time()
    point = combine_passes(results, config)
    gpu = gpu_info()
    point.row.update(host=host, gpu=gpu["name"] if gpu else None, t_start=t_start, t_end=t_end)
    return point.row, tuple(point.samples_s)


@contextlib.contextmanager
def dask_client(scheduler: str, connect_timeout_s: float = 20.0):
    """A connected Client for ``scheduler`` (starting and stopping a LocalCluster for ``local:N``)."""
    check_dask()
    import dask
    from dask.utils import parse_timedelta
    from distributed import Client, LocalCluster

    kind, where = parse_scheduler(scheduler)
    if kind == "local":
        # Dask's nanny would pin OMP/MKL/OpenBLAS to one thread in every worker; here each point sets
        # its own thread count (thread_limits), so the workers start unpinned.
        # a worker that dies holding the host's timing lock keeps it until its lease times out (30 s by
        # default): on one machine, 8 s leases (live holders refresh them every 1.6 s) let the retry start
        # soon; a shorter lease set in Dask's own config (DASK_DISTRIBUTED__SCHEDULER__LOCKS__LEASE_TIMEOUT)
        # is kept
        lease_s = min(8.0, parse_timedelta(dask.config.get("distributed.scheduler.locks.lease-timeout")))
        with dask.config.set({"distributed.scheduler.allowed-failures": 1,
                              "distributed.scheduler.locks.lease-timeout": f"{lease_s}s",
                              "distributed.scheduler.locks.lease-validation-interval": f"{lease_s / 4}s",
                              "distributed.nanny.pre-spawn-environ": {"MALLOC_TRIM_THRESHOLD_": 65536}}):
            with LocalCluster(n_workers=where, threads_per_worker=1, processes=True, resources={"bench": 1},
                              dashboard_address=None) as cluster, Client(cluster) as client:
                yield client
    else:
        with connect(where, connect_timeout_s) as client:
            yield client


def run_sweep_dask(client, cases: Sequence[Case], backends: Sequence[str], config: TimingConfig, writer, *,
                   run_id: str, done: set | None = None, timed: bool = True, repeats: int = 1,
                   plugins: Sequence[str] = (), peak: dict | None = None,
                   on_done: Callable[[PointResult], None] | None = None,
                   on_step: Callable[[int], None] | None = None, options: ClusterOptions | None = None,
                   on_status: Callable[[str], None] | None = None) -> SweepStats:
    """Submit every point not in ``done`` to ``client`` and append rows (with trust flags) as they complete.

    Points that no worker takes for ``options.queue_timeout_s`` become ``failed`` rows
    (see :func:`harness.cluster_checks.completions`); ``on_status`` gets the queue line.
    """
    options = options or ClusterOptions()
    done = done or set()
    stats = SweepStats()
    tag = uuid.uuid4().hex[:8]
    futures = {}
    start = time.perf_counter()
    for ci, case in enumerate(cases):
        for bi, backend in enumerate(backends):
            if point_key(backend, case) in done:
                stats.already_done += 1
                continue
            future = client.submit(run_point_task, backend, case, config, run_id, timed, repeats, list(plugins),
                                   resources=options.task_resources(), pure=False, key=f"convbench-{tag}-{ci}-{bi}")
            futures[future] = (ci * len(backends) + bi, backend, case)
    try:
        for future, stuck in completions(client, futures, options, on_status):
            point, backend, case = futures[future]
            if stuck:
                row, samples = failed_point(run_id, backend, device_of(backend), case, stuck).row, ()
            else:
                try:
                    row, samples = future.result()
                except Exception as exc:  # KilledWorker after the retry, or a task error
                    failed = failed_point(run_id, backend, device_of(backend), case,
                                          error_reason("on the cluster", exc))
                    row, samples = failed.row, ()
            row = with_trust(row, config.target_rel_ci, peak)
            row["point"] = point
            writer.append(row, samples)
            result = PointResult(row, samples)
            stats.add(result)
            if on_step:
                on_step(repeats)
            if on_done:
                on_done(result)
    finally:
        for future in futures:
            future.cancel()
    stats.wall_s = time.perf_counter() - start
    return stats


def cluster_hosts(client) -> dict:
    """Metadata of every host in the cluster, one entry per host."""
    return {info["host"]: info for info in client.run(host_info).values()}


def sweep_on_cluster(scheduler: str, cases, settings, writer, run_id: str, done: set, progress, meta: dict,
                     options: ClusterOptions | None = None) -> SweepStats:
    """The ``sweep --scheduler`` path: connect, record every host in ``meta``, run the points."""
    options = options or ClusterOptions()
    with dask_client(scheduler, options.connect_timeout_s) as client:
        meta["hosts"] = cluster_hosts(client)
        meta["bench_resource"] = options.bench_resource
        writer.write_metadata(meta)
        return run_sweep_dask(client, cases, settings.backends, settings.timing_config(), writer, run_id=run_id,
                              done=done, repeats=settings.repeats, plugins=settings.plugins,
                              peak=meta.get("peak"), on_step=progress.step, on_done=progress.done,
                              options=options, on_status=progress.status)
