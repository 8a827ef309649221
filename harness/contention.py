"""Other processes on the cores during a timed pass: how much of the machine they held, and was it too much?

A competing process that runs through one run of a pair and not the other slows every pass it meets,
fastest passes included, and no statistic of the timings tells that from a slower kernel. Seen on the
2-vCPU Intel Xeon VM: a test suite on two processes running through half of an unchanged
``inception3a`` run moved torch's sixteen points 2-3.7x together, and ``harness compare`` judged the
backend `slower` (exit 1). The probe of :mod:`harness.probe` times the cores' speed, best of three:
a core shared by time slices still runs a short loop at full speed, and it read 0.96x.

So every timed CPU pass measures, from the kernel's own counters (Linux ``/proc/stat``), the share of
the CPU time of the cores it may run on that *other* processes used while it ran - those cores' busy
time (steal included: a hypervisor that runs another guest on the vCPU takes time too) less this
process's own CPU time, over the pass's wall time times their number (:class:`OthersMeter`). A point's
``others_share`` column is the median over its passes (:func:`median_share`); one that reaches
:data:`harness.settings.CONTENDED_SHARE` is flagged ``contended`` (:mod:`harness.trust`). Compare holds back
a move in the direction of a run whose point was contended and met more of it than the other run's by
:data:`harness.settings.CONTENTION_GAP` (:func:`more_contended`, :mod:`harness.interference`): both runs made
beside the same busy process are judged as usual; a contended point whose other passes met little of it may be
judged on those (:func:`uncontended`, :mod:`harness.keptpasses`).
Where the counters cannot be read (not Linux) nothing is measured and nothing flagged.
"""
from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Iterable

from .settings import CONTENDED_SHARE, CONTENTION_GAP

#: Columns of ``/proc/stat``'s ``cpu`` line that count as busy: user, nice, system, irq, softirq, steal
#: (idle and iowait are not; guest time is inside user already).
BUSY_FIELDS = (0, 1, 2, 5, 6, 7)
STAT_PATH = "/proc/stat"


def allowed_cores() -> set[int] | None:
    """The cores this process may run on (None where the OS does not say)."""
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def machine_busy_s(path: str = STAT_PATH, cores: set[int] | None = None) -> float | None:
    """Seconds of CPU time the ``cores`` (default: every core of the machine) have been busy since boot (None where
    unknown, or where a core's line is missing): a worker limited to two cores of many (``taskset``, a cpuset)
    meets only the processes on those two."""
    try:
        with open(path) as stat:
            lines = [line.split() for line in stat if line.startswith("cpu")]
        wanted = {"cpu"} if cores is None else {f"cpu{core}" for core in cores}
        rows = [fields for fields in lines if fields and fields[0] in wanted]
        if len(rows) != len(wanted):
            return None
        ticks = sum(int(fields[1 + i]) for fields in rows for i in BUSY_FIELDS if 1 + i < len(fields))
        return ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


class OthersMeter:
    """Measures, between :meth:`start` and :meth:`share`, the share of the CPU time of the cores this process may run
    on that processes other than this one used (0 = the cores were ours, 1 = others held them all the time).
    ``busy``, ``own``, ``wall`` and ``cores`` replace the counters (tests)."""

    def __init__(self, busy=None, own=time.process_time, wall=time.perf_counter, cores: int | None = None):
        allowed = allowed_cores() if busy is None else None  # the cores this process may run on, or all of them
        self.busy = busy or (lambda: machine_busy_s(cores=allowed))
        self.own, self.wall = own, wall
        self.cores = cores or (len(allowed) if allowed else os.cpu_count() or 1)
        self.started: tuple | None = None

    def start(self) -> OthersMeter:
        """Read the counters at the start of a pass (returns itself, for chaining)."""
        busy = self.busy()
        self.started = None if busy is None else (busy, self.own(), self.wall())
        return self

    def share(self) -> float | None:
        """Others' share of the cores since :meth:`start`, rounded to 0.01 and clipped to [0, 1]; None when
        the counters are unknown or no time passed."""
        busy = self.busy()
        if self.started is None or busy is None:
            return None
        busy0, own0, wall0 = self.started
        elapsed = self.wall() - wall0
        if not elapsed > 0:
            return None
        others = (busy - busy0) - (self.own() - own0)
        return round(min(max(others / (elapsed * self.cores), 0.0), 1.0), 2)


def uncontended(shares: list) -> list[int] | None:
    """Which of a point's passes met little contention, given each pass's ``others_share`` (None where unknown):
    where the point was contended (the median of its known shares reaches ``CONTENDED_SHARE``) and some passes stayed
    below it, the indices of those; else None. Compare may judge the point on them (:mod:`harness.keptpasses`)."""
    known = [s for s in shares if known_share(s)]
    if not known or statistics.median(known) < CONTENDED_SHARE:
        return None
    clean = [i for i, s in enumerate(shares) if known_share(s) and s < CONTENDED_SHARE]
    return clean or None


def median_share(rows: Iterable[dict]) -> float | None:
    """The median ``others_share`` of the timed passes among ``rows`` that carry one (the point's
    ``others_share`` column: the share its median pass met), None when none does."""
    shares = [row["others_share"] for row in rows if row.get("status") == "ok" and known_share(row.get("others_share"))]
    return round(statistics.median(shares), 2) if shares else None


def known_share(share) -> bool:
    """True for a share this module could have written: a number (not a bool) in [0, 1]."""
    return isinstance(share, (int, float)) and not isinstance(share, bool) and 0.0 <= share <= 1.0


def is_contended(share, limit: float = CONTENDED_SHARE) -> bool:
    """True when a share (a pass's or a point's ``others_share``) is known and reaches ``limit``."""
    return known_share(share) and share >= limit


def contention_gap(suspect, other) -> float:
    """How much more of the machine other processes held during the suspect run's point than during the other's
    (``others_share`` of each; NaN where either is unknown: a run from before the column, pytest-benchmark)."""
    return float(suspect) - float(other) if known_share(suspect) and known_share(other) else math.nan


def more_contended(suspect, other, limit: float = CONTENDED_SHARE, gap: float = CONTENTION_GAP) -> bool:
    """True when the suspect run's point was contended (its ``others_share`` reached ``limit``) and met more of it
    than the other run's by ``gap`` or more - or, where the other's share is unknown (a run from before the
    column), was contended at all: half a run made beside a busy process left a numba-cpu point at 0.17 and its
    run-mate made wholly beside it at 0.39, 6.4x slower."""
    if not is_contended(suspect, limit):
        return False
    return not known_share(other) or contention_gap(suspect, other) >= gap
