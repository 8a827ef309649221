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
passes ran at the host's fastest probe speed (within ``PROBE_SLACK``) is flagged ``disturbed``
(:mod:`harness.trust`): compare calls a ``slower`` verdict whose NEW row is disturbed (a ``faster`` one
whose BASE row is) inconclusive - interference, not the code - unless it moved beyond
``harness.settings.DISTURBED_MAX`` (2x). Multi-threaded CPU passes probe every core, single-threaded
ones the current core, GPU passes none (:func:`harness.jobs.pass_probe`).
"""
from __future__ import annotations

import contextlib
import math
import os
import socket
import time
from collections.abc import Callable, Iterable

from .settings import PROBE_SLACK

#: Iterations of the probe's loop (~0.17 ms on a Zen 5 core in its fast state; best of 3: ~0.5 ms per core).
PROBE_ITERATIONS = 5_000
#: Timings per probe; the probe is the fastest (a timer interrupt only adds).
PROBE_REPEATS = 3
#: Probe every core the worker may run on up to this many (a 2-vCPU VM: both); on more, the current one.
MAX_PROBED_CORES = 4
#: Probes of the sweep's own process that start a run's reference (a few ms in all).
SEED_PROBES = 3


def probe_loop(iterations: int) -> int:
    """Interpreter-bound work: the kind of code the slow states slow most (the clock itself does not move)."""
    total = 0
    for i in range(iterations):
        total += i * i
    return total


def probe_s(clock: Callable[[], float] = time.perf_counter, iterations: int = PROBE_ITERATIONS,
            repeats: int = PROBE_REPEATS) -> float:
    """Seconds of the fastest of ``repeats`` timings of :func:`probe_loop`."""
    best = math.inf
    for _ in range(repeats):
        start = clock()
        probe_loop(iterations)
        best = min(best, clock() - start)
    return best


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
    """True when ``probe`` (seconds) is more than ``slack`` times ``reference`` (the host's fastest probe);
    False when either is unknown."""
    if probe is None or reference is None or not (math.isfinite(probe) and math.isfinite(reference)):
        return False
    return reference > 0 and probe > slack * reference


class ProbeReference:
    """The fastest probe seen per host so far in a run (a Dask run's hosts differ in speed), this host's started by
    :meth:`seed`. A point is judged when it finishes, against the reference of that moment."""

    def __init__(self):
        self.fastest: dict = {}

    def seed(self, probes: int = SEED_PROBES) -> None:
        """Start this host's reference with the fastest of ``probes`` probes of this process's cores, so that the
        points that finish first (all of them with ``--repeats 1``) are judged against a reference too."""
        fastest = min(cores_probe_s() for _ in range(probes))
        self.add({"host": socket.gethostname(), "probe_s": fastest})

    def add(self, row: dict) -> None:
        """Note the ``probe_s`` of one pass's row (rows without one are ignored)."""
        probe = row.get("probe_s")
        if isinstance(probe, (int, float)) and math.isfinite(probe) and probe > 0:
            host = row.get("host")
            self.fastest[host] = min(self.fastest.get(host, math.inf), float(probe))

    def all_disturbed(self, rows: Iterable[dict]) -> bool:
        """True when every timed pass among ``rows`` carries a probe and each ran slowed (see module docstring)."""
        probes = [(row.get("probe_s"), self.fastest.get(row.get("host"))) for row in rows
                  if row.get("status") == "ok"]
        return bool(probes) and all(is_disturbed(probe, ref) for probe, ref in probes)
