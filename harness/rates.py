"""Rates measured in rounds, for the roof (:mod:`harness.peak`, :mod:`harness.gpu_peak`): rounds sized to a
target length, rounds run on several threads at once, and a figure's best round with its spread.

Every function takes an injectable ``clock`` so tests drive them with a fake one.
"""
from __future__ import annotations

import threading
import time

import numpy as np

#: Target length of one timed round of the FMA, clock and bandwidth loops.
ROUND_S = 0.002


def timed_rounds(fn, seconds: float, clock=time.perf_counter) -> np.ndarray:
    """Seconds of each call of ``fn`` over ~``seconds`` (after one untimed call; at least 5 calls)."""
    fn()
    times = []
    start = clock()
    while clock() - start < seconds or len(times) < 5:
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return np.asarray(times)


def best_and_spread(rates) -> tuple[float, float]:
    """(best rate, spread = 1 - median / best) of rates measured in rounds."""
    rates = np.asarray(rates, float)
    best = float(rates.max())
    return best, (float(1 - np.median(rates) / best) if best > 0 else float("inf"))


def sized_iterations(call, iterations: int, clock=time.perf_counter) -> int:
    """Iterations of ``call(iterations)`` that last about ``ROUND_S``: grown until one call lasts at least half
    of it (like ``timeit``'s autorange), so a launch or compile in the first calls cannot shrink the rounds."""
    call(iterations)  # compiled (or loaded from the cache), threads started
    for _ in range(40):
        t0 = clock()
        call(iterations)
        elapsed = clock() - t0
        if elapsed >= ROUND_S / 2:
            return max(1, int(iterations * ROUND_S / elapsed))
        iterations *= 4 if elapsed < ROUND_S / 16 else 2
    return iterations


def concurrent_rounds(work, threads: int, seconds: float, clock=time.perf_counter) -> np.ndarray:
    """Seconds of each round on each thread, shape (rounds, threads): ``threads`` Python threads each call
    ``work(thread)`` once per round, the rounds aligned by a barrier, for ~``seconds`` (at least 5 rounds).

    ``work`` must release the GIL (a ``nogil`` Numba function), so the threads run on separate cores.
    """
    times: list[list[float]] = [[] for _ in range(threads)]
    state = dict(start=None, done=False)

    def next_round() -> None:  # the barrier's action: one thread runs it while every thread waits
        if state["start"] is None:
            state["start"] = clock()
        elif clock() - state["start"] >= seconds and len(times[0]) >= 5:
            state["done"] = True

    barrier = threading.Barrier(threads, action=next_round)

    def body(i: int) -> None:
        work(i)  # warm, untimed
        while True:
            barrier.wait()
            if state["done"]:  # decided while all threads waited: every thread sees the same rounds
                return
            t0 = clock()
            work(i)
            times[i].append(clock() - t0)

    pool = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return np.asarray(times).T
