"""What a Dask cluster can do, before and while a sweep runs on it.

Before anything is written: :func:`preflight` connects within ``--connect-timeout-s``
(an unreachable scheduler is :class:`SchedulerUnreachable`) and asks the scheduler
for its workers; none at all, or none holding the ``bench`` resource that every
point needs, is :class:`NoBenchWorker`, whose message is the command that fixes it.
``--no-bench-resource`` submits points without the resource (with a warning).

While points run: :func:`completions` yields futures as they finish and, about once a
second, polls the scheduler for the queue and the live workers (a status line for the
progress display). When points are pending but no worker has held one and none has
finished for ``--queue-timeout-s`` (no worker can take them: none holds the resource,
or the workers left), every pending point is cancelled and comes back with the
reason, so the sweep records ``failed`` rows and ends instead of waiting forever.
A scheduler that stops answering is different: :class:`ClusterLost` ends the sweep
with its unfinished points left to ``--resume``.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .settings import CONNECT_TIMEOUT_S, QUEUE_TIMEOUT_S

BENCH = "bench"
NO_BENCH_WARNING = ("--no-bench-resource: points are submitted without the bench resource, so a worker runs as "
                    "many points at once as it has threads and points may overlap on one host (only the measuring "
                    "part of each point takes the host lock)")


class SchedulerUnreachable(ValueError):
    """No Dask scheduler answered at the address within the connect timeout."""


class NoBenchWorker(ValueError):
    """The scheduler has no worker, or no worker holding the ``bench`` resource, so no point could start."""


class ClusterLost(RuntimeError):
    """The scheduler went away mid-sweep: what finished is on disk, the rest is for ``--resume``."""


#: How long a connection error from a future may take to show in the client's status as a lost scheduler.
LOST_GRACE_S = 3.0


def connection_error(exc: BaseException | None) -> bool:
    """Whether ``exc`` is what a future raises when its scheduler connection breaks (a closed comm - an OSError
    in distributed - or a future cancelled under it), not a failure of the task itself."""
    if exc is None:
        return False
    import asyncio
    import concurrent.futures

    return isinstance(exc, (OSError, asyncio.CancelledError, concurrent.futures.CancelledError)) or \
        type(exc).__name__ in ("CommClosedError", "FutureCancelledError", "CancelledError")


def scheduler_lost(client, exc: BaseException | None = None, grace_s: float = LOST_GRACE_S,
                   clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> bool:
    """Whether ``client`` lost its scheduler (its connection closed or reconnecting). A task's own failure is
    not a lost cluster; but a connection error from a future (``exc``) can arrive before the client notices the
    scheduler is gone (seen in a full test run: the point became a ``failed`` row instead of one left to
    ``--resume``), so for such an error the status is watched for up to ``grace_s`` seconds."""
    def lost() -> bool:
        return getattr(client, "status", "running") not in ("running", "newly-created")

    if lost() or not connection_error(exc):
        return lost()
    deadline = clock() + grace_s
    while clock() < deadline:
        sleep(0.05)
        if lost():
            return True
    return False


@dataclass(frozen=True)
class ClusterOptions:
    """How a sweep uses a cluster: the bench resource, how long a queued point may wait, the connect timeout."""

    bench_resource: bool = True
    queue_timeout_s: float = QUEUE_TIMEOUT_S
    connect_timeout_s: float = CONNECT_TIMEOUT_S

    @classmethod
    def of(cls, settings) -> ClusterOptions:
        """The options of a sweep's :class:`harness.settings.SweepSettings`."""
        return cls(settings.bench_resource, settings.queue_timeout_s, settings.connect_timeout_s)

    def task_resources(self) -> dict | None:
        """The ``resources=`` of every submitted point: one ``bench``, or none with ``--no-bench-resource``."""
        return {BENCH: 1} if self.bench_resource else None


def worker_command(address: str) -> str:
    """The command that starts a worker fit for sweeps on the scheduler at ``address``."""
    return f"dask worker {address} --nthreads 1 --resources {BENCH}=1"


def connect(address: str, timeout_s: float):
    """A Client connected to ``address``, or :class:`SchedulerUnreachable` after ``timeout_s`` seconds."""
    from distributed import Client

    try:
        return Client(address, timeout=f"{timeout_s}s")
    except (OSError, TimeoutError) as exc:
        cause = "" if "Timed out" in str(exc) else f" ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})"
        raise SchedulerUnreachable(f"cannot reach a Dask scheduler at {address} within {timeout_s:g} s{cause}; "
                                   "is `dask scheduler` running there and the port open? "
                                   "(--connect-timeout-s sets the wait)") from None


def bench_workers(workers: dict) -> list[str]:
    """Addresses of the workers (scheduler_info()["workers"]) that hold at least one ``bench`` resource."""
    return [addr for addr, info in workers.items() if (info.get("resources") or {}).get(BENCH, 0) >= 1]


def check_workers(client, address: str, bench_resource: bool = True) -> list[str]:
    """Raise :class:`NoBenchWorker` if no point could start on ``client``'s cluster; else return warnings."""
    workers = client.scheduler_info(n_workers=-1)["workers"]
    if not workers:
        raise NoBenchWorker(f"no worker is connected to the scheduler at {address}; "
                            f"start one on every machine: {worker_command(address)}")
    bench = bench_workers(workers)
    if bench_resource and not bench:
        raise NoBenchWorker(f"{len(workers)} worker(s) at {address} but none holds the {BENCH} resource, so no "
                            f"point could start; start workers with: {worker_command(address)} "
                            "(or pass --no-bench-resource to run on these workers anyway)")
    if not bench_resource:
        return [NO_BENCH_WARNING]
    if len(bench) < len(workers):
        return [f"{len(workers) - len(bench)} of {len(workers)} workers at {address} lack the {BENCH} resource "
                f"and get no points (start them with: {worker_command(address)})"]
    return []


def preflight(kind: str, where, options: ClusterOptions) -> list[str]:
    """Check a parsed ``--scheduler`` (see cluster.parse_scheduler) before any file is written; return warnings.

    A remote scheduler is connected to (within the connect timeout) and asked for
    its workers; a ``local:N`` cluster is started later with the resource, so only
    the ``--no-bench-resource`` warning applies to it.
    """
    if kind != "remote":
        return [NO_BENCH_WARNING] if not options.bench_resource else []
    client = connect(where, options.connect_timeout_s)
    try:
        return check_workers(client, where, options.bench_resource)
    finally:
        client.close()


def short_address(address: str) -> str:
    """``tcp://10.0.0.5:40123`` -> ``10.0.0.5:40123``."""
    return address.split("://", 1)[-1]


def names(addresses, limit: int = 4) -> str:
    """A short list of worker addresses for one line: ``a, b, c (+2 more)``, or ``none``."""
    addresses = sorted(short_address(a) for a in addresses)
    if not addresses:
        return "none"
    more = f" (+{len(addresses) - limit} more)" if len(addresses) > limit else ""
    return ", ".join(addresses[:limit]) + more


def executing(worker: dict) -> int:
    """How many tasks a worker (an entry of scheduler_info()["workers"]) executes, per its last heartbeat."""
    metrics = worker.get("metrics") or {}
    return int((metrics.get("task_counts") or {}).get("executing", metrics.get("executing", 0)))


class QueueWatch:
    """Polls the scheduler for a sweep's queue and workers; says when queued points have waited too long."""

    def __init__(self, client, options: ClusterOptions, clock: Callable[[], float] = time.monotonic):
        self.client = client
        self.options = options
        self.clock = clock
        self.idle_since = clock()
        self.done = 0
        self.seen: set[str] = set()
        self.workers: dict = {}

    def finished(self) -> None:
        """Count a finished point: the cluster is making progress."""
        self.done += 1
        self.idle_since = self.clock()

    def poll(self, pending) -> tuple[str, str | None]:
        """(status line, reason) for the ``pending`` futures; reason is set once no worker took any for too long.

        A point is *taken* once the scheduler hands it to a worker (which may hold
        several and run them one at a time) and *running* while a worker executes it
        (from the workers' heartbeat metrics); the rest are queued.
        """
        keys = {str(future.key) for future in pending}
        try:
            self.workers = self.client.scheduler_info(n_workers=-1)["workers"]
            taken = {addr: len(keys.intersection(map(str, held))) for addr, held in self.client.processing().items()}
            problem = ""
        except (OSError, TimeoutError) as exc:  # the scheduler stopped answering: nothing can be taken
            if scheduler_lost(self.client, exc):
                raise ClusterLost(f"the Dask scheduler went away mid-sweep ({type(exc).__name__})") from None
            self.workers, taken = {}, {}
            problem = f" (the scheduler did not answer: {type(exc).__name__})"
        self.seen |= set(self.workers)
        running = sum(min(n, executing(self.workers.get(addr, {}))) for addr, n in taken.items())
        now = self.clock()
        if any(taken.values()) or not pending:
            self.idle_since = now
        alive = self.workers_line() + problem
        line = (f"cluster: {len(pending) - running} queued, {running} running, {self.done} done; "
                f"workers alive: {alive}")
        if pending and now - self.idle_since >= self.options.queue_timeout_s:
            return line, f"no worker took this point for {self.options.queue_timeout_s:g} s: workers alive: {alive}"
        return line, None

    def workers_line(self) -> str:
        """``2 (a, b), with bench resource: 1 (a)``, plus the workers that left during the sweep."""
        bench = bench_workers(self.workers)
        gone = self.seen - set(self.workers)
        listed = f" ({names(bench)})" if 0 < len(bench) < len(self.workers) else ""
        line = f"{len(self.workers)} ({names(self.workers)}), with {BENCH} resource: {len(bench)}{listed}"
        if gone:
            line += f"; {len(gone)} left during the sweep ({names(gone)})"
        if not bench and self.options.bench_resource:
            line += f"; start one with: {worker_command(self.client.scheduler.address)}"
        return line


def completions(client, futures, options: ClusterOptions, on_status: Callable[[str], None] | None = None,
                clock: Callable[[], float] = time.monotonic, poll_s: float = 1.0) -> Iterator[tuple]:
    """Yield ``(future, None)`` as ``futures`` finish and ``(future, reason)`` for points no worker could take.

    Every ``poll_s`` (shorter for a short queue timeout) the scheduler is asked for
    the queue and the workers, and ``on_status`` gets a one-line summary. When no
    worker has held any of the pending points and none has finished for
    ``options.queue_timeout_s``, the pending points are cancelled and yielded with the
    reason; then the generator ends. A point a worker holds is waited on.
    """
    from distributed import as_completed

    pending = set(futures)
    watch = QueueWatch(client, options, clock)
    poll_s = min(poll_s, options.queue_timeout_s / 4)
    ready = as_completed(pending)
    next_poll = clock()
    while pending:
        if scheduler_lost(client):
            raise ClusterLost("the Dask scheduler went away mid-sweep (its connection closed)")
        if ready.has_ready():
            for future in ready.next_batch(block=False):
                if future in pending:
                    pending.discard(future)
                    watch.finished()
                    yield future, None
            continue
        if clock() >= next_poll:
            line, reason = watch.poll(pending)
            next_poll = clock() + poll_s
            if on_status:
                on_status(line)
            if reason:
                for future in sorted(pending, key=lambda f: str(f.key)):
                    future.cancel()
                    watch.finished()
                    yield future, reason
                pending.clear()
                break
        time.sleep(0.05)
    if on_status:  # the last word on the queue, for the final render of the progress display
        on_status(watch.poll(())[0])
