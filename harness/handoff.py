"""How fast the cores hand work to each other right now, probed around every multi-threaded CPU pass.

A multi-threaded kernel of a few microseconds is mostly hand-off: waking the pool's other threads, splitting the
loop and joining. On the 2-vCPU AMD EPYC VM that cost has two speeds, and which one a process meets is a state of
the machine lasting seconds: numba-cpu's smoke points ran 1.5-1.7x slower in the first two of a run's five pass
rounds (3.4-4.9 us against 2.0-2.9 us) while the one-thread pace probe (:func:`harness.probe.pace_s`) read its
usual 101 us all along, and an unchanged pair of separate smoke runs exited 1 on such a point (2026-12-05). An
empty Numba parallel region over a few floats moves with it: timed beside the kernel in fresh processes, every
stretch whose region read 2.0 us or more had the kernel at 2.85 us or more, every one under 1.6 us at 2.74 us or
less.

So a multi-threaded CPU pass timed on the wall clock records ``handoff_s``, that region's median call just before
it (:func:`handoff_probe_s`: 26 calls, ~50 us; the first in a process loads or compiles the region, 0.3-0.7 s),
after which the worker waits for Numba's pool to park (:func:`harness.jobs.pass_handoff`). Not after it: the pass's
own library threads, still spinning, slowed the region up to 8 ms a call. Compare leaves out of a point the passes
whose hand-off ran slow when it has passes that did not, and holds back a move towards a run every pass of whose
point did (:func:`slow_passes`, :mod:`harness.keptpasses`). One-thread passes hand nothing off, GPU passes are timed
by the device, and an injected or ``--clock process`` clock says nothing of the wall clock's hand-off: they record
none.
"""
from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable, Iterable

import numpy as np

from .pacewait import positive_reading

#: Calls of the empty region per reading; the reading is their median (a timer interrupt only adds).
HANDOFF_CALLS = 25
#: Floats the region touches: a few per thread, so that every thread of the pool gets work and nothing else counts.
REGION_FLOATS = 64
#: A pass whose hand-off read more than this times its run's usual (:func:`usual_handoff_s`) ran in the slow
#: state: on the AMD EPYC VM the fast state read 1.5-1.65 us and the slow one 1.9-2.5 us.
SLOW_HANDOFF = 1.5
#: A slow hand-off counts only where its excess over the usual one is at least this fraction of the pass's median
#: call: a kernel that hands off once per call was slowed by at least that much. Inception-sized kernels (50 us and
#: more) never reach it; the microsecond points of smoke, where the state moved kernels 1.5-2.5x, always do.
MATERIAL_SHARE = 0.05
#: A move towards a run every pass of whose point ran in the slow state is held back up to this factor (its whole
#: interval beyond it stands): the state moved unchanged passes up to 2.47x (numba-cpu's 1x1, AMD EPYC VM).
SLOW_HANDOFF_MAX = 3.0
#: The run's usual hand-off is this quantile of its passes' readings, once there are MIN_HANDOFF_READINGS.
USUAL_QUANTILE, MIN_HANDOFF_READINGS = 0.25, 4
#: Where a samples table keeps each point's passes' readings (``{(backend, case): [handoff_s or None, ...]}``, as
#: :func:`harness.passgroups.read_passes` reads them) and the usual reading per thread count (``{threads: s}``).
HANDOFFS_ATTR, USUAL_ATTR = "pass_handoffs_s", "usual_handoff_s"
#: The pseudo flag compare gives a point every pass of which ran in the slow state while the other run's did not.
SLOW_FLAG = "slow-handoff"


@functools.lru_cache(maxsize=1)
def parallel_region() -> Callable:
    """The probe's region, compiled once per process (and cached on disk): a parallel loop adding one to each
    float of its argument. Numba is imported here, so that importing this module does not."""
    import numba

    def touch_every_float(values) -> None:
        for i in numba.prange(values.shape[0]):
            values[i] += 1.0

    return numba.njit(parallel=True, cache=True)(touch_every_float)


def handoff_probe_s(clock: Callable[[], float] = time.perf_counter, calls: int = HANDOFF_CALLS,
                    region: Callable | None = None) -> float:
    """The median seconds of one call of an empty parallel region on the threads Numba may use now: the cost of
    handing work to the pool's threads and joining them. ``region`` (default :func:`parallel_region`) and ``clock``
    can be injected."""
    if calls < 1:
        raise ValueError(f"calls must be at least 1, got {calls}")
    run = region if region is not None else parallel_region()
    values = np.zeros(REGION_FLOATS)
    run(values)  # compiled and the pool awake: the reading is the hand-off, not the first call's start-up
    times = []
    for _ in range(calls):
        start = clock()
        run(values)
        times.append(clock() - start)
    return statistics.median(times)


def usual_handoff_s(readings: Iterable) -> float | None:
    """The run's usual hand-off: the ``USUAL_QUANTILE`` of its usable readings, None with fewer than
    ``MIN_HANDOFF_READINGS`` (too few to tell a slow state from the usual one)."""
    known = sorted(float(r) for r in readings if positive_reading(r))
    if len(known) < MIN_HANDOFF_READINGS:
        return None
    return known[int(USUAL_QUANTILE * (len(known) - 1))]


def slow_handoff(reading, usual: float | None) -> bool:
    """True when a pass's hand-off ``reading`` ran more than ``SLOW_HANDOFF`` times the ``usual`` one; False when
    either is unknown."""
    return usual is not None and positive_reading(reading) and reading > SLOW_HANDOFF * usual


def usual_by_threads(handoffs: dict, threads: dict) -> dict:
    """``{threads: usual hand-off}`` of a run (:func:`usual_handoff_s` of its passes' readings at each thread count):
    ``handoffs`` is ``{point: [reading of each pass]}``, ``threads`` ``{point: its threads}``."""
    readings: dict = {}
    for point, values in handoffs.items():
        readings.setdefault(threads.get(point), []).extend(values)
    usual = {n: usual_handoff_s(values) for n, values in readings.items()}
    return {n: u for n, u in usual.items() if u is not None}


def joint_usual(*usuals: dict) -> dict:
    """The usual hand-off of several runs together, per thread count: the fastest run's. A run made in the slow
    state throughout has a slow usual of its own, and only another run's tells its passes were slow."""
    out: dict = {}
    for usual in usuals:
        for n, value in usual.items():
            out[n] = min(value, out.get(n, value))
    return out


def slow_passes(readings: list, medians: list, usual: float | None) -> list[int]:
    """The indices of a point's passes that ran in the slow state, and were slowed by it materially: the reading
    beyond ``SLOW_HANDOFF`` times ``usual`` and its excess over ``usual`` at least ``MATERIAL_SHARE`` of the pass's
    median call (``medians``, seconds, one per pass like ``readings``)."""
    return [i for i, (reading, median) in enumerate(zip(readings, medians))
            if slow_handoff(reading, usual) and reading - usual >= MATERIAL_SHARE * median]
