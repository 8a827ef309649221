"""The worker process: one per backend, so the thread pools of Numba, BLAS and torch never share a process.

Started by :class:`harness.executor.WorkerExecutor` with the ``spawn`` context
(fork is unsafe once Numba or torch have started threads). It imports kernels and
the run's plugins, says ``ready`` with the versions of the libraries it runs the
kernels with, then answers each ``(PointJob, CaseData)`` with the
:class:`PointResult` of :func:`harness.jobs.run_job`. It ignores SIGINT (the
parent decides what an interrupt means) and exits when its parent is gone. What its kernels print goes to
stderr, so that the sweep's stdout holds the sweep's own output alone.

A worker leads its own process group, so whatever its kernels start (a
``subprocess.Popen`` that would otherwise hold the sweep's stdout open for ever)
ends with it: :class:`ProcessTree` kills the group, and the descendants that left
it (``start_new_session``) where psutil can list them.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time

from .backends import implementation
from .jobs import run_job
from .measure import SpeedEstimator
from .metadata import kernel_versions
from .plugins import load_plugin


def _end_with_group() -> None:
    """Exit now, taking this worker's process group (what its kernels started) with it."""
    if os.getpgrp() == os.getpid():  # our own group only: never the sweep's (and the shell's) group
        os.killpg(0, signal.SIGKILL)
    os._exit(0)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still exists (a zombie counts as gone only once reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _exit_with_parent(parent_pid: int, sweep_pid: int | None = None) -> None:
    """Exit once this process is orphaned (its parent, the sweep or the forkserver, has gone) or the sweep that
    asked for it has gone (a forkserver can outlive a killed sweep, and a worker stuck in a kernel never sees
    its pipe close)."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent_pid or (sweep_pid is not None and not _alive(sweep_pid)):
            _end_with_group()


class ProcessTree:
    """A worker and what it started, listed now (while the worker still runs); :meth:`end` kills them all."""

    def __init__(self, pid: int | None):
        self.pid = pid
        self.descendants = []
        try:
            import psutil

            self.descendants = psutil.Process(pid).children(recursive=True) if pid else []
        except Exception:  # no psutil, or the worker is gone already: its process group still goes
            pass

    def end(self) -> None:
        """SIGKILL the worker's process group and the descendants listed (psutil checks each is still the same
        process, so a reused pid is never hit)."""
        if self.pid:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except OSError:  # nothing left in the group, or it never formed one
                pass
        for child in self.descendants:
            try:
                child.kill()
            except Exception:  # gone already
                pass


def quiet_read_only_warnings() -> None:
    """torch warns once that a read-only array gives a read-only tensor: inputs are read-only on purpose."""
    import warnings

    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")


def worker_main(conn, backend: str, plugins: list, sweep_pid: int | None = None) -> None:
    """The worker's loop: load plugins, report ready, run jobs until told to stop or the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.setpgid(0, 0)  # lead a process group of our own: whatever a kernel starts is killed with it
    os.dup2(2, 1)  # a kernel's prints go to stderr: the sweep's stdout (its summary, piped or saved) stays its own
    quiet_read_only_warnings()
    # Numba guards its thread start-up with a multiprocessing lock of the default context, which in a
    # forkserver child is "forkserver": a named semaphore the shared resource tracker reports as leaked
    # when the worker is killed. Linux's usual default, "fork", unlinks it at once instead.
    if "fork" in multiprocessing.get_all_start_methods():
        multiprocessing.set_start_method("fork", force=True)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(), sweep_pid), daemon=True).start()
    try:
        for ref in plugins:
            load_plugin(ref)
        implementation(backend).unavailable_reason()  # import torch & co. now, before the first job
        versions = kernel_versions()
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which records it per point
        conn.send(("error", f"worker for {backend} could not start: {type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", {"pid": os.getpid(), "versions": versions}))
    estimator = SpeedEstimator()
    try:
        while True:
            message = conn.recv()
            if message is None:
                return
            job, data = message
            conn.send(("result", run_job(job, data, estimator)))  # run_job applies the point's thread count
    except (EOFError, OSError):  # the sweep is gone (killed) - while we waited for a job or sent a result:
        _end_with_group()  # nobody else will end what the kernels started
