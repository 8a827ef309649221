"""Executors: where a point's pass runs. In this process (debugging, tests), or in a worker per backend.

Every executor has one interface: ``start(backends)`` (raises :class:`WorkerStartError`
before anything is measured when a backend's worker cannot start), ``map(items)``
(runs ``(tag, PointJob, CaseData)`` items and yields ``(tag, PointResult)`` as each
finishes), ``renew(backends)`` (between two rounds of passes, with ``--fresh-workers``: fresh
processes where the executor has them), ``versions()`` (the libraries where the kernels run) and ``close()``; the
Dask executor (:class:`harness.cluster.DaskExecutor`) has the same. All run the one
point function, :func:`harness.jobs.run_job`.

:class:`WorkerExecutor` keeps one worker process per backend (restarted after a
crash), forked by a ``forkserver`` that imported NumPy, SciPy, Numba and kernels
once and runs no kernel (``spawn`` where there is no forkserver; never plain
``fork`` of the sweep, whose libraries may be running threads), and waits for
each pass at most ``timeout_s`` (``--timeout-s``). A pass that hangs, exits,
segfaults or is OOM-killed becomes a ``failed`` row saying which; the worker is
replaced and the sweep goes on. A local executor spins the machine before a timed
point when a :class:`harness.settle.Settler` is given.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator

from .backends import device_of, implementation
from .casedata import CaseData
from .jobs import PointJob, memory_problem, run_job, skipped_for_memory
from .measure import SpeedEstimator
from .metadata import kernel_versions
from .quiesce import wait_own_threads
from .rows import PointResult, failed_point
from .settings import STARTUP_TIMEOUT_S
from .worker import ProcessTree, quiet_read_only_warnings, worker_main

#: Modules the forkserver imports once, so that each worker starts in milliseconds instead of seconds.
#: (Numba's and torch's pools start on first use, in the worker; OpenBLAS re-creates its pool after fork.)
PRELOAD = ["numpy", "scipy.stats", "numba", "threadpoolctl", "kernels", "harness.jobs", "harness.worker"]


class WorkerStartError(RuntimeError):
    """A backend's worker process could not start (a plugin that fails to import there, a script without a
    ``__main__`` guard...): raised by ``start`` before anything is measured."""


class LocalExecutor(ABC):
    """What the executors on this machine share: one pass at a time, in order, with the settler around it."""

    wants_data = True  # the sweep makes each case's data once and hands it over
    on_status = None  # status lines come from executors that have them (a cluster's queue)

    def __init__(self, settler=None):
        self.settler = settler
        #: Wait for this process's own library threads to park before each timed pass (:mod:`harness.quiesce`): the
        #: settler's spin and the case's reference (BLAS) ran here just before; off for an injected clock (tests).
        self.quiesce = True

    @abstractmethod
    def run(self, job: PointJob, data: CaseData) -> PointResult:
        """Measure one pass of one point."""

    def renew(self, backends=None) -> None:
        """Before the next round of passes: nothing to renew in this process (:class:`WorkerExecutor` has workers)."""

    def map(self, items: Iterable[tuple], on_start: Callable | None = None) -> Iterator[tuple]:
        """Run ``(tag, job, data)`` items one after the other; yield ``(tag, result)`` as each finishes."""
        for tag, job, data in items:
            if on_start:
                on_start(job.backend, job.case)
            if self.settler and job.timed:
                self.settler.before_point()
            if self.quiesce and job.timed:
                wait_own_threads()
            result = self.run(job, data)
            if self.settler:
                self.settler.after_point()
            yield tag, result


class InProcessExecutor(LocalExecutor):
    """Runs passes in this process (``--in-process``): no isolation, no timeout; the clock is injectable."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter, settler=None):
        super().__init__(settler)
        self.clock = clock
        self.quiesce = clock is time.perf_counter
        self.estimator = SpeedEstimator(clock)

    def start(self, backends) -> None:
        """Import optional libraries now, so thread limits reach their pools too."""
        quiet_read_only_warnings()
        for backend in backends:
            try:
                implementation(backend).unavailable_reason()
            except Exception:  # measured again (and recorded) per point
                pass

    def run(self, job: PointJob, data: CaseData) -> PointResult:
        """Measure one pass here, under the case's thread count."""
        return run_job(job, data, self.estimator, self.clock)

    def versions(self) -> dict:
        """The libraries of this process (where the kernels run)."""
        return kernel_versions()

    def close(self) -> None:
        """Nothing to stop."""


def exit_reason(exitcode: int | None) -> str:
    """What a worker's exit code says about how it ended (for a ``failed`` row's reason)."""
    if exitcode is None:
        return "worker stopped answering"
    if exitcode >= 0:
        return f"worker exited with code {exitcode} (sys.exit or os._exit in the kernel?)"
    try:
        name = signal.Signals(-exitcode).name
    except ValueError:
        name = f"signal {-exitcode}"
    hint = {"SIGKILL": " (out of memory?)", "SIGSEGV": " (a crash in native code)", "SIGBUS": " (a crash in native code)",
            "SIGABRT": " (an abort in native code)"}.get(name, "")
    return f"worker killed by signal {-exitcode} {name}{hint}"


@contextlib.contextmanager
def main_file_hidden_unless_real():
    """While a worker starts, hide ``__main__.__file__`` when it names no file (``python -`` says "<stdin>"):
    multiprocessing would make the worker run that path as a script and fail to start."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path is None or os.path.isfile(path):
        yield
        return
    del main.__file__
    try:
        yield
    finally:
        main.__file__ = path


class _Worker:
    def __init__(self, context, backend: str, plugins: list):
        self.backend = backend
        self.problem: str | None = None
        self.versions: dict = {}
        self.conn, child = context.Pipe()
        self.process = context.Process(target=worker_main, args=(child, backend, list(plugins), os.getpid()),
                                       name=f"convbench-{backend}", daemon=True)
        with main_file_hidden_unless_real():
            self.process.start()
        child.close()
        self.ready = False
        self.busy = False

    def wait_ready(self, timeout_s: float) -> str | None:
        """Wait up to ``timeout_s`` for the worker's ``ready``; return the problem if it did not come."""
        if self.ready:
            return None
        try:
            if not self.conn.poll(timeout_s):
                return f"worker for {self.backend} did not start within {timeout_s:g} s"
            kind, payload = self.conn.recv()
        except (EOFError, OSError):
            self.process.join(5.0)
            code = self.process.exitcode
            if code is not None and code >= 0:  # an exception on import: its traceback went to stderr
                return (f"worker for {self.backend} died while starting (exit code {code}; its traceback is on "
                        "stderr); a script that calls harness.sweep() must call it under "
                        "`if __name__ == \"__main__\":` - worker processes import the script again")
            return f"worker for {self.backend} died while starting: {exit_reason(code)}"
        if kind == "error":
            self.problem = payload
            return payload
        self.ready = True
        self.versions = dict(payload.get("versions") or {}) if isinstance(payload, dict) else {}
        return None

    def stop(self, kill: bool = False) -> None:
        tree = ProcessTree(self.process.pid)  # what the worker's kernels started ends with it
        if self.process.is_alive() and not kill and not self.busy:
            try:
                self.conn.send(None)
            except OSError:
                pass
            self.process.join(2.0)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5.0)
        tree.end()
        self.conn.close()


class WorkerExecutor(LocalExecutor):
    """One worker process per backend; each pass under a wall-clock limit of ``timeout_s`` seconds."""

    def __init__(self, plugins=(), timeout_s: float = 60.0, method: str | None = None, settler=None):
        super().__init__(settler)
        self.plugins = list(plugins)
        self.timeout_s = timeout_s
        if method is None:  # never plain fork: this process may already run Numba, BLAS or torch threads
            method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        self.context = multiprocessing.get_context(method)
        if method == "forkserver":
            self.context.set_forkserver_preload(PRELOAD)
        self.workers: dict[str, _Worker] = {}
        self.seen_versions: dict = {}
        self.backends: list[str] = []

    def start(self, backends) -> None:
        """Start every backend's worker now and wait until all have imported (so none competes with a
        measurement); :class:`WorkerStartError` naming each one that could not start."""
        self.backends = list(backends)
        for backend in backends:
            self._worker(backend)
        problems = self._wait_all_ready()
        if problems:
            self.close()
            raise WorkerStartError("; ".join(dict.fromkeys(problems)))

    def renew(self, backends=None) -> None:
        """Replace the workers of ``backends`` (default: all) by fresh processes before the next round of passes,
        and wait until all have imported: each pass of a point then runs in a process of its own, so what a process
        decides once (oneDNN's algorithm for a layer, where the runtime's buffers landed) varies between a point's
        passes as it varies between runs, and the gate's median pass and passes' spread see it. Seen on the Intel VM
        (one thread, beside a busy loop): torch's 3a 5x5 ran 2.2 ms in every pass of one run and 3.3-3.8 ms in two
        others, one worker per run - an A/A 1.73x `slower`. A worker that cannot start fails its passes
        (:meth:`run`)."""
        backends = self.backends if backends is None else [b for b in self.backends if b in set(backends)]
        for backend in backends:
            worker = self.workers.pop(backend, None)
            if worker is not None:
                worker.stop()
            self._worker(backend)
        self._wait_all_ready()

    def _wait_all_ready(self) -> list[str]:
        """Wait, ``STARTUP_TIMEOUT_S`` in all, until every worker has imported; the problems of those that did not."""
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        waits = (w.wait_ready(max(0.0, deadline - time.monotonic())) for w in list(self.workers.values()))
        return [problem for problem in waits if problem]

    def _worker(self, backend: str) -> _Worker:
        worker = self.workers.get(backend)
        if worker is None or not worker.process.is_alive():
            if worker is not None:
                worker.stop(kill=True)
            worker = self.workers[backend] = _Worker(self.context, backend, self.plugins)
        return worker

    def _failed(self, job: PointJob, reason: str) -> PointResult:
        worker = self.workers.pop(job.backend, None)
        if worker is not None:
            worker.stop(kill=True)
        return failed_point(job.run_id, job.backend, device_of(job.backend), job.case, reason)

    def run(self, job: PointJob, data: CaseData) -> PointResult:
        """Measure one pass in the backend's worker; a hang, exit or crash is a ``failed`` row.

        The memory estimate is checked here first, so a point too big is never sent.
        """
        problem = memory_problem(job)
        if problem:
            return skipped_for_memory(job, problem)
        worker = self._worker(job.backend)
        not_ready = worker.problem or worker.wait_ready(STARTUP_TIMEOUT_S)
        if not_ready:
            return self._failed(job, not_ready)
        self.seen_versions.update(worker.versions)
        try:
            worker.busy = True
            worker.conn.send((job, data))
            if not worker.conn.poll(self.timeout_s):
                return self._failed(job, f"timed out after {self.timeout_s:g} s (--timeout-s); the worker was "
                                         "stopped")
            kind, payload = worker.conn.recv()
            worker.busy = False
        except (EOFError, OSError, BrokenPipeError):
            worker.process.join(5.0)
            return self._failed(job, exit_reason(worker.process.exitcode))
        return payload

    def versions(self) -> dict:
        """The libraries the workers run the kernels with (torch and its oneDNN/MKL, BLAS and its core type...),
        merged over every worker that started."""
        merged = dict(self.seen_versions)
        for worker in self.workers.values():
            merged.update(worker.versions)
        return merged

    def close(self) -> None:
        """Stop every worker: idle ones are asked to exit, one in the middle of a pass (an interrupt) is killed."""
        for worker in self.workers.values():
            worker.stop()
        self.workers.clear()
