"""The core's speed of the moment, probed around every timed pass: was this pass measured on a slowed core?

On a shared VM a vCPU goes through states in which the code on it runs 1.4-1.8x slower for seconds
at a time while the clock does not move (most likely another tenant on its sibling hyperthread).
Measured on the 2-vCPU AMD EPYC Zen 5 VM with the host busy: pinned to each vCPU in turn, a pure-Python
loop took 6.6-7.2 ms or 9-12.5 ms, switching every second or so; timed back to back with a 20k-iteration
form of this probe for 60 s, small numpy, torch and naive convolutions ran 1.4-1.5x slower whenever it did
(correlation of the log times 0.83-0.91) and were slow in only 1-6% of the calls where it was not.
A point whose every pass fell in such a state is slower in its fastest pass too, with tight rounds:
nothing in its own samples tells it from a slower kernel, and ``harness compare`` flagged 5 of 12
pairs of unchanged smoke runs.

So every timed pass carries ``probe_s`` in its record (the slower of a probe just before and just
after it, each the slowest core's: :func:`cores_probe_s`, ~0.5-1 ms per core), and a point none of whose
passes ran at the host's usual probe speed (within ``PROBE_SLACK`` of the lower quartile of the run's pass probes:
:class:`ProbeReference`) is flagged ``disturbed``
(:mod:`harness.trust`): compare calls a ``slower`` verdict whose NEW row is disturbed (a ``faster`` one
whose BASE row is) inconclusive - interference, not the code - unless it moved beyond
``harness.settings.DISTURBED_MAX`` (2x). Multi-threaded CPU passes probe every core, single-threaded
ones the current core, GPU passes none (:func:`harness.jobs.pass_probe`).
"""
from __future__ import annotations

import bisect
import contextlib
import math
import numbers
import os
import socket
import time
from collections.abc import Callable, Iterable
from itertools import repeat

from .settings import PROBE_SLACK

#: Iterations of the probe's loop (~0.17 ms on a 2-vCPU AMD EPYC core in its fast state; best of 3: ~0.5 ms per core).
PROBE_ITERATIONS = 12_000
#: Timings per probe; the probe is the fastest (a timer interrupt only adds).
PROBE_REPEATS = 3
#: Call depths the loop is timed at, in turn (see :func:`probe_s`): the fastest of them counts.
PROBE_DEPTHS = (2, 3, 5)
#: The probe's loop and its way of timing, recorded in every run's ``versions`` (and every benchmark file's) as
#: ``probe``: readings of two versions are other work and are never compared (:mod:`harness.pacetrust`). Version
#: 1 (no ``probe`` recorded) summed ``i * i`` at one call depth; version 2 allocates nothing and is timed at
#: several depths.
PROBE_VERSION = "2"
#: The probe's version of a run, benchmark file or stored floor that records none (made before it was recorded).
FIRST_PROBE = "1"
#: Probe every core the worker may run on up to this many (a 2-vCPU VM: both); on more, the current one.
MAX_PROBED_CORES = 4
#: Readings of the sweep's own process that start a run's reference, per kind of probe (~0.1 s in all on 2 cores).
SEED_PROBES = 8
#: A host and kind with fewer readings has no reference yet (its passes are not judged): a Dask worker host is
#: not seeded, and the quartile of one to three readings is their fastest.
MIN_READINGS = 4
#: The reference is this quantile of a host's readings of one kind: the usual speed of an unslowed core, not the
#: fastest ever read. On the quiet 2-vCPU Intel Xeon VM one probe reads 0.34-0.50 ms (a core fresh from idle
#: runs faster for a while); the fastest two-core reading of a smoke run was 1.3x below their usual, and judged
#: against it 16 of 25 points were flagged on a machine with nothing else running.
REFERENCE_QUANTILE = 0.25


def probe_loop(iterations: int) -> int:
    """Interpreter-bound work that allocates nothing: the kind of code the slow states slow most (the clock itself
    does not move), and the same work in every process.

    Version 1 summed ``i * i``: its speed depended on where a process's heap put the loop's fresh integers and
    frame. Eight worker processes (numpy, numba or torch imported) polled in turn for 12 s, all pinned to one vCPU
    of the 2-vCPU AMD EPYC VM, read 1.16-1.22x apart for the whole run (four runs); unpinned, 1.15-1.41x. So a
    sweep's torch worker was flagged ``disturbed`` on every point while its kernels had not moved, and a pace read
    in two runs' processes was partly the processes'. This loop touches only cached small integers and is timed
    at the depths of :data:`PROBE_DEPTHS` (at one depth it still read up to 1.5x slower in one process of 18, and
    depths 0, 1 and 6 ran 4-10% slower in every process): the same eight processes read 1.00-1.01x apart, while
    in the VM's slow states it read 1.40-1.50x slower where version 1 read 1.45-1.74x (correlation 0.5-0.8).
    """
    x = 0
    for _ in repeat(None, iterations):
        x = x ^ 1
    return x


def loop_at_depth(depth: int, iterations: int, clock: Callable[[], float]) -> float:
    """Seconds of one :func:`probe_loop` timed ``depth`` calls deeper than here (its frame lies elsewhere)."""
    if depth > 0:
        return loop_at_depth(depth - 1, iterations, clock)
    start = clock()
    probe_loop(iterations)
    return clock() - start


def probe_s(clock: Callable[[], float] = time.perf_counter, iterations: int = PROBE_ITERATIONS,
            repeats: int = PROBE_REPEATS) -> float:
    """Seconds of the fastest of ``repeats`` timings of :func:`probe_loop`, each at the next depth of
    :data:`PROBE_DEPTHS` (one depth may be slow in one process: :func:`probe_loop`)."""
    best = math.inf
    for i in range(repeats):
        best = min(best, loop_at_depth(PROBE_DEPTHS[i % len(PROBE_DEPTHS)], iterations, clock))
    return best


#: Iterations of the pace probe timed after every timed round of a CPU pass (:func:`pace_s`: ~0.1 ms on the
#: 2-vCPU AMD EPYC VM; rounds last >= 1 ms, so it takes at most a tenth of a pass's budget from its rounds).
PACE_ITERATIONS = 6_000


def pace_s(clock: Callable[[], float] = time.perf_counter, iterations: int = PACE_ITERATIONS) -> float:
    """Seconds of ``iterations`` of :func:`probe_loop` on the current core, as the fastest of its parts timed at each
    depth of :data:`PROBE_DEPTHS`: the machine's pace right after a timed round. The median over a pass's rounds
    follows the machine's faster and slower stretches that the kernel met in that pass (:mod:`harness.pace`)."""
    parts = len(PROBE_DEPTHS)
    return probe_s(clock, max(1, iterations // parts), repeats=parts) * parts


def probes_every_core(threads: int) -> bool:
    """True when a pass on ``threads`` threads probes every core (:func:`cores_probe_s`: it waits for its slowest
    thread), False when it probes only its own (:func:`probe_s`). The two kinds of reading have references of
    their own: the slowest of several cores reads slower than one."""
    return threads > 1


def cores_probe_s(max_cores: int = MAX_PROBED_CORES) -> float:
    """The slowest core's :func:`probe_s`: this thread pinned to each core it may run on in turn (up to
    ``max_cores`` of them; on more, only where it runs now), its affinity restored after. A multi-threaded
    kernel waits for its slowest thread, so one slowed core slows the pass; where affinity cannot be set
    (not Linux), the probe of the current core."""
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return probe_s()
    if len(allowed) > max_cores:
        return probe_s()
    slowest = 0.0
    try:
        for core in allowed:
            os.sched_setaffinity(0, {core})
            slowest = max(slowest, probe_s())
    except OSError:  # a core taken away meanwhile (cpuset changed): the probe of wherever this thread runs
        slowest = max(slowest, probe_s())
    finally:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, allowed)
    return slowest


def is_disturbed(probe: float | None, reference: float | None, slack: float = PROBE_SLACK) -> bool:
    """True when ``probe`` (seconds) is more than ``slack`` times ``reference`` (the host's usual reading,
    :class:`ProbeReference`); False when either is unknown."""
    if probe is None or reference is None or not (math.isfinite(probe) and math.isfinite(reference)):
        return False
    return reference > 0 and probe > slack * reference


def reading_key(row: dict) -> tuple:
    """``(host, every core probed)``: whose readings a pass's probe is judged with (a Dask run's hosts differ)."""
    threads = row.get("threads")
    real = isinstance(threads, numbers.Real) and not isinstance(threads, bool) and math.isfinite(threads)
    return row.get("host"), probes_every_core(int(threads) if real else 1)


class ProbeReference:
    """Every probe reading of a run so far, per host and kind (:func:`reading_key`), this host's started by
    :meth:`seed`; the reference of a kind is the ``REFERENCE_QUANTILE`` of its readings. A point is judged when
    it finishes, against the reference of that moment."""

    def __init__(self):
        self.readings: dict = {}

    def seed(self, probes: int = SEED_PROBES) -> None:
        """Start this host's references with ``probes`` readings of each kind from this process, each the slower
        of two probes as a pass's is (before and after), so that the points that finish first (all of them with
        ``--repeats 1``) are judged against a reference too."""
        host = socket.gethostname()
        for threads, probe in ((2, cores_probe_s), (1, probe_s)):
            for _ in range(probes):
                self.add({"host": host, "threads": threads, "probe_s": max(probe(), probe())})

    def add(self, row: dict) -> None:
        """Note the ``probe_s`` of one pass's row (rows without one are ignored)."""
        probe = row.get("probe_s")
        if isinstance(probe, (int, float)) and math.isfinite(probe) and probe > 0:
            bisect.insort(self.readings.setdefault(reading_key(row), []), float(probe))

    def reference(self, row: dict) -> float | None:
        """The usual reading of ``row``'s host and kind so far (None before ``MIN_READINGS`` of them)."""
        readings = self.readings.get(reading_key(row), ())
        if len(readings) < MIN_READINGS:
            return None
        return readings[round(REFERENCE_QUANTILE * (len(readings) - 1))]

    def all_disturbed(self, rows: Iterable[dict]) -> bool:
        """True when every timed pass among ``rows`` carries a probe and each ran slowed (see module docstring)."""
        rows = [row for row in rows if row.get("status") == "ok"]
        return bool(rows) and all(is_disturbed(row.get("probe_s"), self.reference(row)) for row in rows)
