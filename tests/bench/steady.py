"""Steady timing for the pytest-benchmark suite: wake the machine, settle each call, size rounds in time.

On the 2-vCPU VMs this project runs on, an idle vCPU wakes slowly (a parallel call
runs up to 30x slower for the first ~0.1-1 s after idle) and a runtime's thread pool
(Numba/OpenMP, OpenBLAS, oneDNN) keeps spinning for a while after its last call.
So, by default, each runtime runs one thread (:func:`bench_threads`), CPU backends
are timed in CPU seconds (:func:`timer_for`), buffers are laid out the same way in
every process (:func:`fixed_layout`); and before anything is timed:

- :func:`wake_machine` (once per session) keeps every vCPU busy with real
  multi-threaded work (BLAS GEMMs) until its throughput is steady;
- :func:`settle` (per benchmark, after the previous benchmark's runtime went quiet)
  repeats the prepared call in blocks of ~:data:`ROUND_S` until consecutive blocks
  agree, and returns the steady per-call time;
- :func:`plan` turns that per-call time into ``iterations`` (calls per round, each
  round >= ~:data:`ROUND_S` and >= :data:`MIN_CALLS` calls) and ``rounds`` (about
  :data:`TIMED_S` of timed rounds per benchmark);
- a CPU benchmark on one thread starts its rounds, and goes on after any round whose pace
  (:class:`PaceLog`) read slow, only once the machine reads its usual pace again
  (:class:`harness.pacewait.PaceWait`; ``CONVBENCH_BENCH_WAIT_S`` seconds per session at most,
  :func:`wait_budget_s`; the usual pace of earlier sessions is kept in pytest's cache, :func:`pace_cache_key`).

:func:`base_twins` reads ``CONVBENCH_BENCH_AGAINST`` (A/B benchmarks, below); :func:`slowdown` reads
``CONVBENCH_BENCH_SLOWDOWN`` (e.g. ``numpy:1.3``): the suite's
own hook for measuring that the regression gate catches a real slowdown; it is read
here only, never by the library.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import math
import os
import sys
import time
from collections.abc import Callable

import pytest

#: Target duration of one timed round (seconds) and the fewest calls in one. Short rounds, many of
#: them: the best rounds then stay near the machine's uncontended speed, which is what
#: ``harness compare`` checks besides the median (with 5 ms rounds the minimum moved with the load:
#: 3 false alarms in 7 unchanged pairs, against 0 and 1 in two batches of 7 with 2 ms rounds).
ROUND_S = 2e-3
MIN_CALLS = 10
#: Target duration of one benchmark's timed rounds, and bounds on their number.
TIMED_S = 0.2
MIN_ROUNDS, MAX_ROUNDS = 15, 100
#: Settling: at least MIN_SETTLE_S, at most MAX_SETTLE_S; steady when the last STEADY_BLOCKS
#: blocks' per-call times lie within STEADY_TOL of each other.
MIN_SETTLE_S, MAX_SETTLE_S, STEADY_BLOCKS, STEADY_TOL = 0.1, 1.5, 5, 0.05
#: How long the whole machine is kept busy at the start of a benchmark session, at least.
WAKE_S = 1.0
SLOWDOWN_ENV = "CONVBENCH_BENCH_SLOWDOWN"
#: A/B benchmarks: the base build (a git commit of this checkout, or a folder holding its kernels package) whose
#: backends run as NAME@base right before this build's, benchmark by benchmark (as ``sweep --against``).
AGAINST_ENV = "CONVBENCH_BENCH_AGAINST"
THREADS_ENV, CLOCK_ENV = "CONVBENCH_BENCH_THREADS", "CONVBENCH_BENCH_CLOCK"
#: Seconds the session may wait, all waits together, for the machine's usual pace (:mod:`harness.pacewait`; 0: none).
WAIT_ENV = "CONVBENCH_BENCH_WAIT_S"
#: Pace readings that start a session's own usual pace (~3 ms), and pytest's cache key of the stored ones.
SEED_READINGS, PACE_CACHE_KEY = 30, "convbench/usual-pace"
#: The session's line on its waits (:meth:`harness.pacewait.PaceWait.summary`), in ``config.stash``.
PACE_SUMMARY = pytest.StashKey[str]()


#: glibc's mallopt parameter number, the threshold while preparing, and the one restored afterwards
#: (the largest the dynamic threshold grows to on 64-bit Linux).
M_MMAP_THRESHOLD, PREPARE_MMAP_THRESHOLD, RUN_MMAP_THRESHOLD = -3, 64 * 1024, 32 * 1024 * 1024


@contextlib.contextmanager
def fixed_layout():
    """Within the block, every allocation >= 64 KiB gets its own mmap (glibc), at the same page offset in every process.

    A layer's buffers otherwise land anywhere in the heap and their offsets within a
    page differ from process to process; some kernels run at one of two speeds
    depending on them (4K aliasing: numba-cpu-direct on 3a-1x1 ran 390 or 590 us per
    call, per process). Allocate the inputs and ``prepare()`` inside this block so an
    unchanged re-run sees the same layout. Afterwards the threshold is set high, so
    allocations in the timed calls reuse the heap as usual. A no-op off glibc.
    """
    libc_name = ctypes.util.find_library("c") if sys.platform.startswith("linux") else None
    mallopt = getattr(ctypes.CDLL(libc_name), "mallopt", None) if libc_name else None
    if mallopt is not None:
        mallopt(M_MMAP_THRESHOLD, PREPARE_MMAP_THRESHOLD)
    try:
        yield
    finally:
        if mallopt is not None:
            mallopt(M_MMAP_THRESHOLD, RUN_MMAP_THRESHOLD)


def bench_threads(env: dict | None = None) -> int:
    """Threads per runtime for the benchmarks: ``CONVBENCH_BENCH_THREADS`` (default 1; 0 = all cores).

    One thread by default: on a shared 2-vCPU VM a neighbour that takes one vCPU stalls
    every barrier of a 2-thread kernel (medians moved 2-1000x between unchanged runs
    under load), while a one-thread kernel's CPU time barely moves.
    """
    from harness.threads import max_threads

    value = (os.environ if env is None else env).get(THREADS_ENV, "1")
    try:
        n = int(value)
    except ValueError:
        n = -1
    if not 0 <= n <= max_threads():
        raise ValueError(f"{THREADS_ENV}: expected 0..{max_threads()} threads, got {value!r}")
    return n or max_threads()


def timer_for(device: str, env: dict | None = None) -> Callable[[], float]:
    """The benchmark clock: CPU seconds of this process (``time.process_time``) for CPU backends,
    wall seconds (``time.perf_counter``) for GPU ones or with ``CONVBENCH_BENCH_CLOCK=wall``.

    CPU time leaves out the time a neighbour holds our vCPU; with one thread it is the
    work of the call itself. With several threads it counts spinning at barriers, so
    time multi-threaded runs with the wall clock, on a quiet machine.
    """
    clock = (os.environ if env is None else env).get(CLOCK_ENV, "cpu")
    if clock not in ("cpu", "wall"):
        raise ValueError(f"{CLOCK_ENV}: expected cpu or wall, got {clock!r}")
    return time.process_time if clock == "cpu" and device == "cpu" else time.perf_counter


def settle(call: Callable[[], None], clock: Callable[[], float] = time.perf_counter) -> float:
    """Run ``call`` (untimed for the benchmark) until its per-call time is steady; return that time.

    Blocks of calls last ~ROUND_S each; it stops once MIN_SETTLE_S has passed and the
    last STEADY_BLOCKS blocks agree within STEADY_TOL (max/min), or after MAX_SETTLE_S.
    The result is the median of those last blocks.
    """
    start = clock()
    t0 = clock()
    call()
    per_call = max(clock() - t0, 1e-9)
    blocks: list[float] = []
    while True:
        calls = max(1, math.ceil(ROUND_S / per_call))
        t0 = clock()
        for _ in range(calls):
            call()
        per_call = max((clock() - t0) / calls, 1e-9)
        blocks.append(per_call)
        last = sorted(blocks[-STEADY_BLOCKS:])
        elapsed = clock() - start
        steady = len(last) == STEADY_BLOCKS and last[-1] <= last[0] * (1 + STEADY_TOL)
        if (steady and elapsed >= MIN_SETTLE_S) or elapsed >= MAX_SETTLE_S:
            return last[len(last) // 2]


def plan(per_call_s: float) -> tuple[int, int]:
    """``(rounds, iterations)`` for a call of ``per_call_s`` seconds (see the module docstring)."""
    iterations = max(MIN_CALLS, math.ceil(ROUND_S / max(per_call_s, 1e-9)))
    rounds = int(TIMED_S / (iterations * per_call_s))
    return min(MAX_ROUNDS, max(MIN_ROUNDS, rounds)), iterations


def wake_machine(seconds: float = WAKE_S, clock: Callable[[], float] = time.perf_counter) -> float:
    """Keep every vCPU busy with multi-threaded GEMMs for >= ``seconds`` and until steady; return seconds spent."""
    import numpy as np

    a = np.random.default_rng(0).uniform(-1, 1, (384, 384)).astype(np.float32)
    start = clock()
    settle(lambda: a @ a, clock)
    while clock() - start < seconds:
        settle(lambda: a @ a, clock)
    return clock() - start


class PaceLog:
    """The machine's pace after every round: pytest-benchmark's per-round ``teardown`` (outside the timed region).

    Each call times :func:`harness.probe.pace_s` on the benchmark's own clock and keeps it; :meth:`timed` gives
    the readings of the timed rounds, one per entry of ``stats.data``, which ``harness compare`` reads to divide
    the machine's pace out (:mod:`harness.benchpace`). Given a :class:`harness.pacewait.PaceWait` read on the same
    clock and the benchmark's ``rounds`` (warm-up and timed), a slow reading after any but the last of them is
    followed by a wait for the usual pace, so the next round starts there (pytest-benchmark also calls the teardown
    after its untimed result call: no round follows that one either).
    """

    def __init__(self, clock: Callable[[], float], wait=None, rounds: int = 0):
        from harness.probe import pace_s

        self.clock, self.probe, self.wait, self.rounds = clock, pace_s, wait, rounds
        self.paces_s: list[float] = []

    def __call__(self, *args, **kwargs) -> None:
        reading = self.probe(self.clock)
        self.paces_s.append(reading)
        if self.wait is not None:
            (self.wait.after_round if len(self.paces_s) < self.rounds else self.wait.note)(reading)

    def timed(self, warmup_rounds: int, rounds: int) -> list[float]:
        """The readings that followed the ``rounds`` timed rounds (after ``warmup_rounds`` untimed ones)."""
        return self.paces_s[warmup_rounds:warmup_rounds + rounds]


def wait_budget_s(env: dict | None = None) -> float:
    """``CONVBENCH_BENCH_WAIT_S``: seconds the session may wait for the machine's usual pace (default
    :data:`harness.pacewait.SESSION_WAIT_S`; 0 never waits). Raises ValueError naming the variable otherwise."""
    from harness.pacewait import SESSION_WAIT_S

    value = (os.environ if env is None else env).get(WAIT_ENV, "").strip()
    try:
        seconds = float(value) if value else SESSION_WAIT_S
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"{WAIT_ENV}: expected seconds >= 0, got {value!r}")
    return seconds


def pace_cache_key(clock: Callable[[], float]) -> str:
    """Where pytest's cache keeps the usual pace of earlier sessions: per probe version, CPU model, Python release,
    clock and probe length, since a reading of any other is other work."""
    import platform

    from harness.metadata import cpu_model
    from harness.probe import PACE_ITERATIONS, PROBE_VERSION

    machine = f"probe{PROBE_VERSION}-{PACE_ITERATIONS}/{cpu_model()}/py{platform.python_version()}/{clock.__name__}"
    return f"{PACE_CACHE_KEY}/" + "".join(c if c.isalnum() or c in "-._/" else "_" for c in machine)


def base_twins(env: dict | None = None) -> list[str]:
    """The base build's backends, registered as ``NAME@base``, when ``CONVBENCH_BENCH_AGAINST`` names one (else []).

    Each benchmark of this build then runs right after its base build's twin, seconds apart, so both meet the same
    machine; ``harness compare FILE.json@base FILE.json`` judges them. Raises ValueError naming the variable for a
    base build that cannot be used.
    """
    ref = (os.environ if env is None else env).get(AGAINST_ENV, "").strip()
    if not ref:
        return []
    from harness.against import base_folder, register_base

    try:
        return register_base(base_folder(ref))
    except ValueError as exc:
        raise ValueError(f"{AGAINST_ENV}={ref}: {exc}") from None


def slowdown(backend: str, env: dict | None = None) -> float:
    """The slowdown factor ``CONVBENCH_BENCH_SLOWDOWN`` asks for ``backend`` (1.0 if none).

    The variable holds ``backend:factor`` pairs separated by commas, e.g.
    ``numpy:1.3,torch:1.1``; a malformed entry raises ValueError.
    """
    spec = (os.environ if env is None else env).get(SLOWDOWN_ENV, "")
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, sep, factor = item.rpartition(":")
        try:
            value = float(factor)
        except ValueError:
            value = math.nan
        if not sep or not name or not value >= 1.0:
            raise ValueError(f"{SLOWDOWN_ENV}: expected BACKEND:FACTOR with FACTOR >= 1, got {item!r}")
        if name == backend:
            return value
    return 1.0


def slowed(call: Callable[[], None], factor: float) -> Callable[[], None]:
    """``call`` doing ``factor`` times the work on average: an extra call whenever the owed fraction reaches 1.

    With >= MIN_CALLS calls per round, every round carries (factor - 1) x its calls
    extra, give or take one call.
    """
    if factor == 1.0:
        return call
    owed = [0.0]

    def run() -> None:
        call()
        owed[0] += factor - 1.0
        while owed[0] >= 1.0 - 1e-9:
            call()
            owed[0] -= 1.0

    return run
