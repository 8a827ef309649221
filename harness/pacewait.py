"""Wait out a shared machine's slow state before timing, as nvbench waits out a throttled GPU.

A shared VM's vCPU runs everything 1.4-1.5x slower for a second to half a minute at a time (the pace probe,
:func:`harness.probe.pace_s`, reads as much slower), and pytest-benchmark times a backend's benchmarks back to back:
on the 2-vCPU AMD EPYC VM, files that spent more than a tenth of their rounds in that state moved 21% of their
medians beyond +/-10% against an unchanged re-run, files that spent less 2% (docs/regression-gates.md). Nothing
afterwards can tell such a stretch from a slower kernel in one file's numbers, so the benchmark suite avoids it:
before a benchmark's timed rounds, and after any round whose pace read slow, :class:`PaceWait` reads the probe
until it reads the machine's usual pace again, up to :data:`MAX_WAIT_S` at a time and :data:`SESSION_WAIT_S` per
session, and the time it waited is recorded. nvbench does the same for a GPU whose clock dropped below its
``--throttle-threshold``: it discards the sample and sleeps ``--throttle-recovery-delay``. Here the probe keeps
spinning instead of sleeping, since an idle vCPU wakes slowly.

"Usual" is the lower of the session's own 10th percentile of readings and the median of the last
:data:`KEPT_SESSIONS` sessions' (:func:`stored_usual`, kept by the caller, e.g. in pytest's cache): a session that
starts slow, and stays so, would otherwise take its slow state for the usual one. But the probe's reading is not
the same in every process: one benchmark session of ten on that VM read it 1.40x slower from start to end while
its kernels, the pure-Python one included, ran as fast as the session before. So when a wait runs out while the
session's low is itself slow against the stored pace, the stored pace is dropped until the session reads it
again (three readings in a row) and its own readings judge alone: such a process costs one wait, not the whole
budget, and then stores only its own low. (A slow stretch at the start of a session that outlasts one wait is
then timed as it comes, until the machine reads its stored pace again.)
"""
from __future__ import annotations

import bisect
import math
import statistics
import time
from collections.abc import Callable, Sequence

from .settings import SLOW_PACE

#: Readings in a row at the usual pace that end a wait (one may be a lucky one in the slow state).
FAST_IN_A_ROW = 3
#: The longest single wait, and all waits of a session together, in seconds (the suite takes ~15-30 s).
MAX_WAIT_S, SESSION_WAIT_S = 5.0, 60.0
#: The session's usual pace is this quantile of its readings, once it has MIN_READINGS of them.
USUAL_QUANTILE, MIN_READINGS = 0.10, 20
#: Sessions whose lows are kept for the next one (:func:`kept_lows`); their median is the stored usual pace.
KEPT_SESSIONS = 5


def positive_reading(value) -> bool:
    """True for a finite reading above zero (a probe's seconds); False for anything else, huge integers included."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value)) and value > 0
    except OverflowError:
        return False


def stored_lows(lows) -> list[float]:
    """The readings among stored lows (a list or tuple, as pytest's cache gives it back); anything else: none."""
    return [float(v) for v in lows if positive_reading(v)] if isinstance(lows, (list, tuple)) else []


def stored_usual(lows: Sequence) -> float | None:
    """The median of the stored sessions' lows (:meth:`PaceWait.session_low_s`), ignoring what is not a reading;
    None when none is stored."""
    readings = stored_lows(lows)
    return statistics.median(readings) if readings else None


def kept_lows(lows: Sequence, low: float | None) -> list[float]:
    """``lows`` with this session's ``low`` appended, the last :data:`KEPT_SESSIONS` only."""
    readings = stored_lows(lows)
    if positive_reading(low):
        readings.append(float(low))
    return readings[-KEPT_SESSIONS:]


class PaceWait:
    """A session's readings of the machine's pace and the waits for its usual one (see the module docstring).

    ``probe`` returns one reading in seconds (the benchmark's clock: what :meth:`note` is given must be read the
    same way); ``wall`` measures the waits. ``stored_s`` is the usual pace of earlier sessions (or None),
    ``budget_s`` all waits of the session together (0: never wait, only note), ``max_wait_s`` one wait,
    ``slack`` how much slower than usual a reading is slow. A benchmark calls :meth:`before_rounds` before its
    rounds and :meth:`after_round` with the reading after each round that another round follows.
    """

    def __init__(self, probe: Callable[[], float], *, wall: Callable[[], float] = time.perf_counter,
                 stored_s: float | None = None, budget_s: float = SESSION_WAIT_S, max_wait_s: float = MAX_WAIT_S,
                 slack: float = SLOW_PACE):
        for name, value in (("budget_s", budget_s), ("max_wait_s", max_wait_s)):
            if isinstance(value, bool) or not (positive_reading(value) or value == 0):
                raise ValueError(f"{name}: expected a finite number of seconds >= 0, got {value!r}")
        if not (positive_reading(slack) and slack > 1):
            raise ValueError(f"slack: expected a finite factor above 1, got {slack!r}")
        if stored_s is not None and not positive_reading(stored_s):
            raise ValueError(f"stored_s: expected a positive number of seconds or None, got {stored_s!r}")
        self.probe, self.wall, self.stored_s = probe, wall, stored_s
        self.budget_s, self.max_wait_s, self.slack = float(budget_s), float(max_wait_s), float(slack)
        self.readings: list[float] = []
        self.waited_s = 0.0
        self.benchmarks = 0  # benchmarks that called before_rounds
        self.waits = 0       # waits that found the machine slow
        self.gave_up = 0     # of those, the ones that ran out of time with the machine still slow
        self.unwaited = 0    # slow rounds followed by another with no wait: the budget was spent
        self.dropped_s: float | None = None  # the stored pace while dropped (see the module docstring)
        self.drops = 0
        self.near_stored = 0  # noted readings in a row at the dropped pace (FAST_IN_A_ROW of them restore it)

    def note(self, pace_s: float) -> None:
        """Keep one reading taken outside a wait (after a round, or to seed the session); others are ignored. While
        the stored pace is dropped, :data:`FAST_IN_A_ROW` readings in a row at it restore it."""
        if not positive_reading(pace_s):
            return
        bisect.insort(self.readings, float(pace_s))
        if self.dropped_s is not None:
            self.near_stored = self.near_stored + 1 if pace_s <= self.slack * self.dropped_s else 0
            if self.near_stored >= FAST_IN_A_ROW:
                self.stored_s, self.dropped_s, self.near_stored = self.dropped_s, None, 0

    def session_low_s(self) -> float | None:
        """The :data:`USUAL_QUANTILE` of the session's noted readings (None before :data:`MIN_READINGS`)."""
        if len(self.readings) < MIN_READINGS:
            return None
        return self.readings[round(USUAL_QUANTILE * (len(self.readings) - 1))]

    def usual_s(self) -> float | None:
        """The machine's usual pace: the lower of the session's low and the stored one (None if neither is known)."""
        known = [v for v in (self.session_low_s(), self.stored_s) if v is not None]
        return min(known) if known else None

    def is_slow(self, pace_s: float) -> bool:
        """True when ``pace_s`` reads more than ``slack`` times the usual pace (False while none is known)."""
        usual = self.usual_s()
        return usual is not None and positive_reading(pace_s) and pace_s > self.slack * usual

    def before_rounds(self) -> float:
        """Before a benchmark's first round: wait for the usual pace (:meth:`wait`); return the seconds waited."""
        self.benchmarks += 1
        return self.wait()

    def after_round(self, pace_s: float) -> float:
        """After a round that another round of the same benchmark follows: note its reading and, if it read slow, wait
        (or count it as timed without a wait once the budget is spent); return the seconds waited."""
        self.note(pace_s)
        if not self.is_slow(pace_s):
            return 0.0
        if self.budget_s - self.waited_s <= 0:
            self.unwaited += 1
            return 0.0
        return self.wait()

    def wait(self) -> float:
        """Read the probe until :data:`FAST_IN_A_ROW` readings in a row are not slow, or until ``max_wait_s`` or the
        rest of the budget has passed; return the seconds waited (0.0 when the first readings were at the usual
        pace). The readings taken here are not noted: a long wait would fill the session's readings with its slow
        state."""
        limit = min(self.max_wait_s, max(0.0, self.budget_s - self.waited_s))
        if limit <= 0:
            return 0.0  # the budget is spent (or there is none): time as the machine comes
        start = self.wall()
        fast, slow_seen = 0, False
        while fast < FAST_IN_A_ROW:
            if self.is_slow(self.probe()):
                fast, slow_seen = 0, True
            else:
                fast += 1
            if fast < FAST_IN_A_ROW and self.wall() - start >= limit:
                if fast == 0:  # still slow when the time ran out
                    self.gave_up += 1
                    self.drop_stored_if_never_read()
                break
        if not slow_seen:
            return 0.0
        spent = self.wall() - start
        self.waited_s += spent
        self.waits += 1
        return spent

    def drop_stored_if_never_read(self) -> None:
        """Judge by the session's own readings (until it reads the stored pace again, :meth:`note`) when even its low
        reads slow against the stored pace: this process's probe, or the machine for all of the session so far,
        reads slower than earlier sessions'."""
        own = self.session_low_s()
        if self.stored_s is not None and own is not None and own > self.slack * self.stored_s:
            self.dropped_s, self.stored_s, self.near_stored = self.stored_s, None, 0
            self.drops += 1

    def lows_to_keep(self, lows: Sequence) -> list[float]:
        """The stored lows for the next session (:func:`kept_lows`): this session's low appended - or alone, when the
        stored pace was dropped and never read again, so that a stale one costs no further session a wait."""
        return kept_lows([] if self.dropped_s is not None else lows, self.session_low_s())

    def summary(self) -> str:
        """One line for the session's end: how long it waited, how often, how often in vain, what it did not wait."""
        usual = self.usual_s()
        usual_text = f"{usual * 1e6:.0f} us" if usual is not None else "not known"
        text = (f"waited {self.waited_s:.1f} s in {self.waits} wait(s) over {self.benchmarks} benchmark(s) for the "
                f"machine's usual pace ({usual_text}; budget {self.budget_s:g} s)")
        if self.gave_up:
            text += f"; {self.gave_up} ran out of time with the machine still slow"
        if self.unwaited:
            why = "waiting off" if self.budget_s == 0 else "the budget spent"
            text += f"; {why}, {self.unwaited} slow round(s) were followed by others without a wait"
        if self.drops:
            dropped = self.dropped_s if self.dropped_s is not None else self.stored_s
            again = (" until it read that pace again" if self.dropped_s is None else "")
            text += (f"; the session's readings stayed over {self.slack:g}x the stored usual pace "
                     f"({dropped * 1e6:.0f} us), so it was judged by its own readings{again}")
        return text
