"""Settling the machine before measuring: spin every core until throughput is steady.

Idle vCPUs on the project's VMs wake slowly: a parallel kernel can run 30x slower
for the first second after the machine was idle, and dropped back after a
one-second sleep. A :class:`Settler` therefore spins all cores (multi-threaded
BLAS GEMMs in short chunks) for at least ``settle_s`` before the first point,
and again after any idle gap longer than ``IDLE_GAP_S`` between points (a big
layer's float64 reference leaves all but one core idle), until the chunks' speed
is steady (:func:`harness.timing.is_steady`) or three times ``settle_s`` passed.
Each point's own warm-up then waits for its kernel to be steady too
(``TimingConfig.settle_s``).
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable

import numpy as np

from .timing import is_steady

#: A pause between points longer than this (seconds) counts as idle: the next point is preceded by a spin.
IDLE_GAP_S = 0.5
#: Size of one spin GEMM (float32): ~5-20 ms on 2 cores.
SPIN_N = 384


def load_average() -> float | None:
    """The 1-minute load average (None where the OS does not report one)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def busy_machine(threads: int, clock: str = "wall", load: float | None = None) -> str | None:
    """What to say before a sweep when the 1-minute load average (``load``, default this machine's) reaches the
    core count: other processes compete for the cores, so passes may disagree; None on a quiet machine."""
    load = load_average() if load is None else load
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if load is None or load < cores:
        return None
    advice = [] if threads <= 1 else ["--threads 1 (a kernel on one core waits less for a busy one)"]
    if clock != "process":
        advice.append("--clock process (CPU time, for CPU backends: time other processes hold the cores "
                      "does not count)")
    tail = f"; what holds up better: {' and '.join(advice)}" if advice else ""
    return (f"load average {load:.2f} reaches this machine's {cores} cores: other processes compete for them, "
            f"so timings will be noisy and passes may disagree{tail}")


def spin(min_s: float, max_s: float, clock: Callable[[], float] = time.perf_counter,
         work: Callable[[], None] | None = None) -> dict:
    """Run ``work`` (default: a multi-threaded GEMM) in chunks for at least ``min_s``, then until steady
    or ``max_s``; return what happened (seconds spun, whether steady, first and last chunk seconds)."""
    if work is None:
        a = np.ones((SPIN_N, SPIN_N), np.float32)
        out = np.empty_like(a)

        def work() -> None:
            np.matmul(a, a, out=out)

    chunks: list[float] = []
    start = clock()
    while True:
        t0 = clock()
        work()
        chunks.append(clock() - t0)
        elapsed = clock() - start
        if elapsed >= max_s or (elapsed >= min_s and is_steady(chunks)):
            break
    return dict(spun_s=round(clock() - start, 3), steady=is_steady(chunks), chunks=len(chunks),
                first_chunk_s=chunks[0], last_chunk_s=chunks[-1])


class Settler:
    """Spins the machine before the first point and after idle gaps; keeps a log for the run's metadata."""

    def __init__(self, settle_s: float, clock: Callable[[], float] = time.perf_counter,
                 work: Callable[[], None] | None = None):
        self.settle_s = settle_s
        self.clock = clock
        self.work = work
        self.last_busy: float | None = None
        self.spins: list[dict] = []

    def before_point(self) -> None:
        """Spin if this is the first point or the machine idled for more than ``IDLE_GAP_S``."""
        if self.settle_s <= 0:
            return
        now = self.clock()
        gap = None if self.last_busy is None else now - self.last_busy
        if gap is None:
            self.spins.append(dict(spin(self.settle_s, 3 * self.settle_s, self.clock, self.work), reason="start"))
        elif gap > IDLE_GAP_S:
            wanted = min(self.settle_s, gap)
            self.spins.append(dict(spin(wanted, 3 * wanted, self.clock, self.work), reason=f"idle {gap:.2f} s"))

    def after_point(self) -> None:
        """Note that the machine was busy until now."""
        self.last_busy = self.clock()

    def summary(self) -> dict:
        """For the run's metadata: the setting, how many spins, total seconds, how many ended steady."""
        return dict(settle_s=self.settle_s, spins=len(self.spins),
                    spun_s=round(sum(s["spun_s"] for s in self.spins), 3),
                    steady=sum(bool(s["steady"]) for s in self.spins),
                    first=self.spins[0] if self.spins else None)
