"""After a timed pass, wait until this process's own helper threads stop spinning, so the next pass meets quiet cores.

A threaded library keeps its worker threads busy-waiting for a while after each call, so that the next call
finds them awake. Measured on the 2-vCPU AMD EPYC VM (``time.process_time`` over 10 ms windows after the last
call, the calling thread asleep): OpenBLAS (NumPy's GEMM) holds one core for ~100 ms (its thread timeout,
2**28 cycles), torch's OpenMP pool and numba's ``omp`` layer for ~10 ms. Within one pass that is the library's
own business. Across passes it is not: every backend runs in its own worker process, and the next pass - another
backend's, or in an A/B run (``sweep --against``) the other build's pass of the same point - started while
the previous worker still spun on one of the two cores. Its ``others_share`` read 0.20-0.26 where its
neighbours' read 0.02: numba-cpu (timed right after numpy) in three ``inception3a`` sweeps, and in three A/B
runs this build's numpy (right after the base build's) and the base build's numba-cpu (right after this
build's numpy). Compare then held back an injected slowdown as "measured under interference" on a quarter to
a third of such a backend's rows.

:func:`wait_own_threads` sleeps in short windows and returns after the first window in which this process used at
most :data:`QUIET_SHARE` of a core - its helper threads parked - or after :data:`MAX_QUIET_WAIT_S`. It only
waits for *this* process: other processes are the contention meter's business (:mod:`harness.contention`). A
worker waits after each timed CPU pass (:func:`harness.jobs.run_job`), the sweep's own process before handing one
out (:meth:`harness.executor.LocalExecutor.map`: its settler spins the cores with BLAS, and a case's reference is a
BLAS ``einsum``). The cost: ~0.1 s per NumPy pass (a default pass is ~0.17 s), 5-15 ms per other pass; a library
that never parks its threads costs the cap per pass.

A quiet window alone is not proof on a busy machine: a spinning thread that another process kept off both cores
for the window used no CPU in it, and spins on as soon as it gets a core back. Measured on the 2-vCPU AMD EPYC
(Zen 1, AVX2) VM beside two busy processes, 39 of 40 waits after a NumPy pass ended in the first 5 ms window with
OpenBLAS's thread still runnable, and the process then held 0.5 of a core over the next 30 ms (CI's
``test_a_real_numpy_pass_returns_with_its_blas_threads_parked`` read 0.56). So where Linux tells a thread's state
(``/proc/self/task``), a window counts as quiet only if no other thread of this process is runnable too: a parked
thread sleeps (state ``S``), a spinning one is running or waiting for a core (``R``).
"""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from pathlib import Path

#: Length of one window of the wait (seconds): short against OpenBLAS's ~100 ms spin, long against the clocks' step.
QUIET_WINDOW_S = 0.005
#: This process is quiet in a window in which it used less than this share of one core (its threads parked; the
#: waiting thread itself uses ~0.01).
QUIET_SHARE = 0.1
#: The longest wait (seconds): a library that never parks its threads (or a kernel that left one running) costs
#: at most this per pass.
MAX_QUIET_WAIT_S = 0.5


#: Where Linux lists this process's threads, one folder each (absent elsewhere: then only CPU time tells).
TASKS_DIR = Path("/proc/self/task")


def runnable_other_threads(tasks_dir: Path = TASKS_DIR) -> int:
    """How many threads of this process, the calling one aside, are running or waiting for a core (state ``R``).

    Reads each thread's ``stat`` (the state follows the command name's closing parenthesis); a thread that ends
    while it is read is skipped. 0 where the folder does not exist (not Linux): the wait then judges by CPU time."""
    own, count = str(threading.get_native_id()), 0
    try:
        tasks = [task for task in tasks_dir.iterdir() if task.name != own]
    except OSError:
        return 0
    for task in tasks:
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        count += stat[stat.rfind(")") + 2:][:1] == "R"
    return count


def wait_own_threads(cpu_s: Callable[[], float] = time.process_time, wall_s: Callable[[], float] = time.perf_counter,
                     sleep: Callable[[float], None] = time.sleep, window_s: float = QUIET_WINDOW_S,
                     quiet_share: float = QUIET_SHARE, max_s: float = MAX_QUIET_WAIT_S,
                     runnable: Callable[[], int] = runnable_other_threads) -> float:
    """Sleep until this process's threads are idle; return the seconds waited.

    ``cpu_s`` is the process's CPU time (all its threads), ``wall_s`` a wall clock, ``sleep`` how to wait one
    ``window_s``, ``runnable`` the count of this process's other threads that want a core (all injectable, for
    tests). Returns after the first window whose CPU time was at most ``quiet_share`` of its wall time and after
    which no other thread is runnable, or once ``max_s`` have passed (or ``ceil(max_s / window_s) + 1`` windows
    were slept); it always sleeps one window."""
    if not (window_s > 0 and max_s >= 0 and quiet_share >= 0):
        raise ValueError(f"wait_own_threads needs window_s > 0, max_s >= 0 and quiet_share >= 0 "
                         f"(got {window_s}, {max_s}, {quiet_share})")
    start = wall_s()
    cpu0, wall0 = cpu_s(), start
    for _ in range(math.ceil(max_s / window_s) + 1):  # bounded even where the wall clock stands still
        sleep(window_s)
        cpu1, wall1 = cpu_s(), wall_s()
        quiet = cpu1 - cpu0 <= quiet_share * (wall1 - wall0) and not runnable()
        if quiet or wall1 - start >= max_s:
            break
        cpu0, wall0 = cpu1, wall1
    return wall_s() - start
