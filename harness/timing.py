"""The timing protocol: calls per round sized to >= ~1 ms, warm-up, rounds until the median is stable.

Pure logic over an injectable clock, so tests drive it with a fake one. GPU
backends pass a device event timer (``start()``/``stop() -> seconds``); every
other backend is timed with the host clock after a ``sync``.
"""
from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .settings import MAX_ROUNDS, MIN_ROUND_S, MIN_ROUNDS, SETTLE_S, SWEEP_BUDGET_S, TARGET_REL_CI, WARMUP_S


@dataclass(frozen=True)
class TimingConfig:
    """How long and how precisely to time one point.

    Attributes:
        budget_s: time budget of the timed rounds of one point (warm-up included);
            at least ``min_rounds`` rounds run even when it is spent.
        target_rel_ci: stop once the 95% CI half-width of the median is at most this
            fraction of the median.
        min_rounds / max_rounds: bounds on the number of timed rounds.
        min_round_s: a round repeats the call until it lasts at least this long.
        warmup_s: untimed calls before the first round (at least one round's worth).
        settle_s: after ``warmup_s``, keep warming up (untimed) until the last
            ``STEADY_ROUNDS`` warm-up rounds agree within ``STEADY_REL`` - idle vCPUs
            wake slowly and another runtime's threads may still spin - but for at
            most this long. 0 turns it off.
        cold: flush caches (untimed) before every timed round, so each round starts cold.
        clock: ``"wall"``, or ``"process"`` (CPU backends: the process's CPU time per thread,
            see :func:`harness.jobs.process_clock`).

    The defaults are :mod:`harness.settings`' (a whole point's budget, measured in one pass).
    """

    budget_s: float = SWEEP_BUDGET_S
    target_rel_ci: float = TARGET_REL_CI
    min_rounds: int = MIN_ROUNDS
    max_rounds: int = MAX_ROUNDS
    min_round_s: float = MIN_ROUND_S
    warmup_s: float = WARMUP_S
    settle_s: float = SETTLE_S
    cold: bool = False
    clock: str = "wall"

    def __post_init__(self) -> None:
        if not self.budget_s > 0:
            raise ValueError(f"budget_s must be > 0, got {self.budget_s}")
        if not self.target_rel_ci > 0:
            raise ValueError(f"target_rel_ci must be > 0, got {self.target_rel_ci}")
        if not self.settle_s >= 0:
            raise ValueError(f"settle_s must be >= 0, got {self.settle_s}")
        if not 1 <= self.min_rounds <= self.max_rounds:
            raise ValueError(f"need 1 <= min_rounds <= max_rounds, got {self.min_rounds}, {self.max_rounds}")


#: Times the timed rounds may be sized again (and started over) when they turn out shorter than half a round.
MAX_RESIZES = 2
#: Warm-up is steady when the last STEADY_ROUNDS rounds' per-call times agree within STEADY_REL.
STEADY_ROUNDS = 3
STEADY_REL = 0.05


def is_steady(per_call_s) -> bool:
    """True when the last ``STEADY_ROUNDS`` per-call times agree within ``STEADY_REL`` (max/min) and their
    median moved by at most ``STEADY_REL / 2`` from the window before (a machine still waking up speeds
    up round after round: not steady)."""
    times = list(per_call_s)
    if len(times) < 2 * STEADY_ROUNDS:
        return False
    last, before = times[-STEADY_ROUNDS:], times[-2 * STEADY_ROUNDS:-STEADY_ROUNDS]
    drift = abs(float(np.median(last)) / float(np.median(before)) - 1)
    return max(last) <= (1 + STEADY_REL) * min(last) and drift <= STEADY_REL / 2


def pass_config(config: TimingConfig, repeats: int) -> TimingConfig:
    """One pass's share of a point measured in ``repeats`` passes (budget split, warm-up at most 1/4 of it)."""
    budget_s = config.budget_s / repeats
    return dataclasses.replace(config, budget_s=budget_s, warmup_s=min(config.warmup_s, budget_s / 4))


@dataclass(frozen=True)
class RoundTimes:
    """Per-call seconds of each timed round, plus how they were obtained."""

    times_s: tuple[float, ...]
    calls_per_round: int
    converged: bool
    warmup_s: float = 0.0
    steady: bool = True
    pace_s: tuple[float, ...] = ()

    @property
    def pace_median_s(self) -> float | None:
        """Median of the pace readings taken after each timed round (None when none were taken)."""
        return float(np.median(self.pace_s)) if self.pace_s else None

    @property
    def median_s(self) -> float:
        """Median per-call time over rounds."""
        return float(np.median(self.times_s))

    @property
    def min_s(self) -> float:
        """Fastest round's per-call time."""
        return float(np.min(self.times_s))

    @property
    def iqr_s(self) -> float:
        """Interquartile range of the per-call times."""
        q1, q3 = np.percentile(self.times_s, [25, 75])
        return float(q3 - q1)

    @property
    def rel_ci(self) -> float:
        """Relative 95% CI half-width of the median."""
        return median_rel_ci(self.times_s)


def median_ci(samples, confidence: float = 0.95) -> tuple[float, float]:
    """Distribution-free confidence interval of the median from order statistics (binomial)."""
    from scipy.stats import binom

    xs = np.sort(np.asarray(samples, dtype=float))
    n = len(xs)
    if n == 0:
        raise ValueError("median_ci needs at least one sample")
    j = int(binom.ppf((1 - confidence) / 2, n, 0.5))
    lo, hi = max(j - 1, 0), min(n - j, n - 1)
    return float(xs[lo]), float(xs[hi])


def median_rel_ci(samples, confidence: float = 0.95) -> float:
    """Half-width of :func:`median_ci` divided by the median (inf for a zero median)."""
    lo, hi = median_ci(samples, confidence)
    med = float(np.median(samples))
    return (hi - lo) / 2 / med if med > 0 else math.inf


class HostCacheFlusher:
    """Evicts CPU caches by writing a buffer larger than the last-level cache (for ``--cold`` rounds)."""

    def __init__(self, nbytes: int = 128 * 2**20):
        self._buffer = np.empty(nbytes // 8, dtype=np.float64)

    def __call__(self) -> None:
        """Write the whole buffer."""
        self._buffer.fill(1.0)


class HostTimer:
    """Times a region with a host clock; the caller syncs the device before ``stop``."""

    def __init__(self, clock: Callable[[], float], sync: Callable[[], None]):
        self._clock = clock
        self._sync = sync
        self._t0 = 0.0

    def start(self) -> None:
        """Read the clock."""
        self._t0 = self._clock()

    def stop(self) -> float:
        """Wait for the device, read the clock, return elapsed seconds."""
        self._sync()
        return self._clock() - self._t0


def time_rounds(fn: Callable[[], None], sync: Callable[[], None], config: TimingConfig,
                clock: Callable[[], float] = time.perf_counter, timer=None,
                flush: Callable[[], None] | None = None, wall: Callable[[], float] | None = None,
                pace: Callable[[], float] | None = None) -> RoundTimes:
    """Time ``fn`` in rounds following ``config``; ``timer`` (start/stop) defaults to the host clock.

    ``fn`` must already have run once (compilation is never timed here). The
    budget is measured on ``clock`` whatever the timer, and counts from the end of
    the warm-up (settling the machine does not eat into it). With ``config.cold``,
    ``flush`` runs (untimed) before every round; cold rounds hold one call.
    Given a ``wall`` clock, rounds are sized on the longer of the timer's and the wall clock's time per call:
    a CPU-time clock (``--clock process``) counts the time of a kernel's other threads only at the
    scheduler's tick, so a short call can read as 0 s - and a round sized on that held a million calls and
    ran into the pass's timeout (seen beside a busy process on the 2-vCPU Intel VM).
    ``pace`` (seconds of a fixed probe, :func:`harness.probe.pace_s`) runs after every timed round, outside it:
    the machine's speed while the rounds ran (:mod:`harness.pace`), in ``RoundTimes.pace_s``.
    """
    timer = timer or HostTimer(clock, sync)
    cold = config.cold and flush is not None

    def one_round(calls: int) -> tuple[float, float]:
        """(per-call time on the timer, the longer of that and the wall clock's: what rounds are sized on)."""
        if cold:
            flush()
        sync()
        began = wall() if wall else 0.0
        timer.start()
        for _ in range(calls):
            fn()
        per_call = timer.stop() / calls
        return per_call, max(per_call, (wall() - began) / calls if wall else 0.0, 1e-9)

    start = clock()
    calls = max(1, math.ceil(config.min_round_s / one_round(1)[1]))
    warm: list[float] = []
    warm_size: list[float] = []
    while True:  # warm-up: at least one full round and warmup_s, then until steady (at most settle_s more)
        per_call, size = one_round(calls)
        warm.append(max(per_call, 1e-9))
        warm_size.append(size)
        elapsed = clock() - start
        if elapsed >= config.warmup_s and (is_steady(warm) or elapsed >= config.warmup_s + config.settle_s):
            break
    settled_s = clock() - start
    # sized on the fastest warm-up round, so that a round lasts >= min_round_s even when the last one was slowed
    calls = 1 if cold else max(1, math.ceil(config.min_round_s / min(warm_size)))
    times: list[float] = []
    paces: list[float] = []
    converged, resized = False, 0
    while True:
        per_call, size = one_round(calls)
        per_call = max(per_call, 1e-9)
        if not cold and resized < MAX_RESIZES and size * calls < config.min_round_s / 2:
            # the kernel runs faster than in its warm-up (which a busy machine slowed): rounds this short would
            # time the timer, so size the rounds again and start over
            calls, times, paces, resized = max(calls + 1, math.ceil(config.min_round_s / size)), [], [], resized + 1
            continue
        times.append(per_call)
        if pace is not None:
            paces.append(pace())
        if len(times) < config.min_rounds:
            continue
        if median_rel_ci(times) <= config.target_rel_ci:
            converged = True
            break
        if len(times) >= config.max_rounds or clock() - start >= config.budget_s + settled_s:
            break
    return RoundTimes(tuple(times), calls, converged, warmup_s=settled_s, steady=is_steady(warm), pace_s=tuple(paces))
