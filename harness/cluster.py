"""The Dask executor: every pass of a point is one task, one point per worker at a time, one host lock.

``--scheduler tcp://HOST:8786`` submits to a running cluster; ``--scheduler local:N``
starts a ``LocalCluster`` of N single-threaded worker processes. :class:`DaskExecutor`
has the interface of every executor (:mod:`harness.executor`), so a Dask sweep runs
through the one sweep loop (:mod:`harness.sweeploop`): the same points, passes
interleaved, kept passes pooled, the same rows. Each pass runs
:func:`harness.jobs.run_job` on a worker, which makes the case's data itself and
applies the point's thread count like every executor (a thread count the host does
not have is a ``failed`` row, never silently clamped).

Every task needs the worker resource ``bench=1`` (checked before submitting, see
:mod:`harness.cluster_checks`), so a worker runs one pass at a time; passes on one
host take a ``distributed.Lock`` named after the host, so workers sharing a machine
never measure at the same time. A worker that dies mid-pass gets the pass retried
once elsewhere (``allowed-failures = 1`` on a local cluster), then the point is a
``failed`` row; passes no worker takes for ``--queue-timeout-s`` become ``failed``
rows too. A scheduler that goes away raises :class:`harness.cluster_checks.ClusterLost`:
the unfinished points are left to ``--resume``, never recorded as failed.
"""
from __future__ import annotations

import contextlib
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Iterator

from .backends import device_of, implementation
from .cluster_checks import ClusterLost, ClusterOptions, completions, connect, scheduler_lost
from .executor import WorkerStartError
from .jobs import PointJob, run_job
from .metadata import cpu_model, gpu_info, kernel_versions, memory_gib
from .plugins import load_plugin
from .rows import PointResult, error_reason, failed_point

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


def worker_setup(plugins: list, backends: list) -> dict:
    """Run on every worker before the sweep: load the plugins, import the backends' libraries; return the
    host, CPU, GPU and the versions the kernels run with (for the run's metadata)."""
    import os

    for ref in plugins:
        load_plugin(ref)
    for backend in backends:
        implementation(backend).unavailable_reason()
    return dict(host=socket.gethostname(), cpu_model=cpu_model(), cpu_count=os.cpu_count(),
                memory_gib=memory_gib(), gpu=gpu_info(), versions=kernel_versions())


def run_task(job: PointJob, plugins: list) -> PointResult:
    """One pass on a worker, under the host's timing lock; the row records the host, the GPU (if any) and the
    wall-clock start and end of the pass (``t_start``, ``t_end``)."""
    from distributed import Lock

    for ref in plugins:
        load_plugin(ref)
    implementation(job.backend).unavailable_reason()  # import torch & co. before the thread limits reach them
    host = socket.gethostname()
    with Lock(f"convbench-timing-{host}"):
        t_start = time.time()
        result = run_job(job)
        t_end = time.time()
    gpu = gpu_info()
    result.row.update(host=host, gpu=gpu["name"] if gpu else None, t_start=t_start, t_end=t_end)
    return result


class DaskExecutor:
    """Runs passes as tasks on a connected Dask ``client`` (see the module docstring)."""

    wants_data = False  # each worker makes the case's data itself (no arrays over the network)

    def __init__(self, client, plugins=(), options: ClusterOptions | None = None,
                 on_status: Callable[[str], None] | None = None):
        self.client = client
        self.plugins = list(plugins)
        self.options = options or ClusterOptions()
        self.on_status = on_status
        self.hosts: dict = {}

    def start(self, backends) -> None:
        """Load the plugins and the backends' libraries on every worker; :class:`WorkerStartError` if one fails."""
        try:
            info = self.client.run(worker_setup, self.plugins, list(backends))
        except Exception as exc:
            raise WorkerStartError(f"Dask workers could not start the sweep's backends: "
                                   f"{error_reason('worker setup', exc)}") from None
        self.hosts = {entry["host"]: entry for entry in info.values()}

    def renew(self, backends=None) -> None:
        """Nothing: the cluster's workers are the cluster's; each pass already lands on whichever runs it."""

    def versions(self) -> dict:
        """The libraries the workers run the kernels with, merged over every host."""
        merged: dict = {}
        for entry in self.hosts.values():
            merged.update(entry.get("versions") or {})
        return merged

    def map(self, items: Iterable[tuple], on_start: Callable | None = None) -> Iterator[tuple]:
        """Submit every ``(tag, job, _)`` item at once; yield ``(tag, result)`` as passes finish."""
        batch = uuid.uuid4().hex[:8]
        futures = {}
        for n, (tag, job, _) in enumerate(items):
            future = self.client.submit(run_task, job, self.plugins, resources=self.options.task_resources(),
                                        pure=False, key=f"convbench-{batch}-{n}")
            futures[future] = (tag, job)
        try:
            for future, stuck in completions(self.client, futures, self.options, self.on_status):
                tag, job = futures[future]
                yield tag, self.result_of(future, stuck, job)
        finally:
            for future in futures:
                with contextlib.suppress(Exception):
                    future.cancel()

    def result_of(self, future, stuck: str | None, job: PointJob) -> PointResult:
        """The pass's result; a ``failed`` row for a task that failed; ClusterLost when the scheduler went away."""
        if stuck:
            return failed_point(job.run_id, job.backend, device_of(job.backend), job.case, stuck)
        try:
            return future.result()
        except Exception as exc:  # KilledWorker after the retry, a task error - or a lost scheduler
            if scheduler_lost(self.client, exc):
                raise ClusterLost(f"the Dask scheduler went away mid-sweep ({type(exc).__name__})") from None
            return failed_point(job.run_id, job.backend, device_of(job.backend), job.case,
                                error_reason("on the cluster", exc))

    def close(self) -> None:
        """Nothing to stop (the client belongs to :func:`dask_client`)."""


@contextlib.contextmanager
def dask_client(scheduler: str, connect_timeout_s: float):
    """A connected Client for ``scheduler`` (starting and stopping a LocalCluster for ``local:N``)."""
    check_dask()
    import dask
    from dask.utils import parse_timedelta
    from distributed import LocalCluster

    kind, where = parse_scheduler(scheduler)
    if kind != "local":
        with connect(where, connect_timeout_s) as client:
            yield client
        return
    # Dask's nanny would pin OMP/MKL/OpenBLAS to one thread in every worker; here each point sets its own
    # thread count, so the workers start unpinned. A worker that dies holding the host's timing lock keeps it
    # until its lease times out (30 s by default): on one machine, 8 s leases (live holders refresh them every
    # 1.6 s) let the retry start soon; a shorter lease set in Dask's own config is kept.
    lease_s = min(8.0, parse_timedelta(dask.config.get("distributed.scheduler.locks.lease-timeout")))
    with dask.config.set({"distributed.scheduler.allowed-failures": 1,
                          "distributed.scheduler.locks.lease-timeout": f"{lease_s}s",
                          "distributed.scheduler.locks.lease-validation-interval": f"{lease_s / 4}s",
                          "distributed.nanny.pre-spawn-environ": {"MALLOC_TRIM_THRESHOLD_": 65536}}):
        with LocalCluster(n_workers=where, threads_per_worker=1, processes=True, resources={"bench": 1},
                          dashboard_address=None) as cluster, connect(cluster.scheduler_address,
                                                                      connect_timeout_s) as client:
            yield client
