"""The newest runs against every run before them: a rank test that judges a step where the run-to-run noise hides it
from a test of medians, and only where the new runs are slower than every speed the history showed.

Microsecond kernels on a shared machine flip between speeds from process to process (a numba kernel at 2 us in one
run and 4 us in the next): the noise of their series is tens of percent, so three slow runs cannot beat three
standard errors of it. But if the newest ``m`` runs are all slower than *every* run before them, the history never
showed that speed. Under no change (the runs exchangeable) the chance of that is ``1 / C(n, m)`` for a series of
``n`` runs - 1/364 for the newest 3 of 14 - whatever the shape of the noise, bimodal included.

The test is one-sided (slowdowns: the gate's question) and looks at one per-run statistic: of the median time per
call and the best round (often steadier across processes for microsecond kernels), the one with the smaller spread
around its median over the whole series - chosen from the set of values, not their order, so the chance above
holds. It looks at ``m = min_runs, min_runs + 1, ...`` (up to half the series) and spends a fixed false-alarm
budget ``ALPHA`` on them: each ``m`` costs ``1 / C(n, m)``, and the ``m`` whose cost no longer fits are not looked
at (10 runs: m = 3; 12: m = 3..6; 14: m = 3..7; fewer than 10 runs: none). A step is found at the largest such
``m`` (its first run), only when each of the newest runs is beyond the threshold above the median of the runs
before (so two stalled runs among three slightly slow ones are not a step); its size is the ratio of the medians
after and before, its 95% interval from a bootstrap over runs.
"""
from __future__ import annotations

import math

import numpy as np

#: The false-alarm budget of the test per series (spent over the statistics and run counts it looks at).
ALPHA = 0.01
#: Bootstrap resamples for the interval of the step, and their seed (the verdict is deterministic).
BOOTSTRAP = 2000
SEED = 0


def looked_at(n_runs: int, min_runs: int, alpha: float = ALPHA) -> list[int]:
    """The run counts ``m`` the test may look at in a series of ``n_runs``: ``min_runs`` upwards, at most half the
    series, while the summed chance of a false alarm (``1 / C(n_runs, m)`` each) stays within ``alpha``."""
    out, spent = [], 0.0
    for m in range(min_runs, n_runs // 2 + 1):
        spent += 1 / math.comb(n_runs, m)
        if spent > alpha:
            break
        out.append(m)
    return out


def steadiest(statistics: dict) -> str | None:
    """The name of the statistic (per-run log values, all finite) with the smallest spread around its median (a
    function of the set of values, not of their order, so the rank test on it keeps its false-alarm chance)."""
    usable = {name: np.asarray(v, dtype=float) for name, v in statistics.items() if v is not None and len(v)}
    usable = {name: v for name, v in usable.items() if np.isfinite(v).all()}
    if not usable:
        return None
    return min(usable, key=lambda name: float(np.median(np.abs(usable[name] - np.median(usable[name])))))


def bootstrap_interval(before, after, seed: int = SEED, draws: int = BOOTSTRAP) -> tuple[float, float]:
    """95% percentile interval of median(after) - median(before), resampling the runs of each side."""
    rng = np.random.default_rng(seed)
    b = np.median(before[rng.integers(0, len(before), (draws, len(before)))], axis=1)
    a = np.median(after[rng.integers(0, len(after), (draws, len(after)))], axis=1)
    lo, hi = np.quantile(a - b, [0.025, 0.975])
    return float(lo), float(hi)


def newest_step(statistics: dict, threshold: float, min_runs: int, previous=()) -> dict | None:
    """The newest runs' slowdown, or None: ``statistics`` maps a name (e.g. ``time_s``) to per-run log values (one
    series, date order, equal lengths); the steadiest (:func:`steadiest`) is tested. The step is found at the
    largest run count the budget lets the test look at where the newest runs are all slower than every run before
    them and each is beyond ``threshold`` above the median of the runs before them (counted from the newest of
    the ``previous`` change points, indices of their first runs, before it). Returns at (the index of its first
    run), ratio, ratio_lo, ratio_hi, runs_before, runs_after, statistic, p_value (the false-alarm chance of all the
    looks together, under no change) and verdict ("slower")."""
    name = steadiest(statistics)
    if name is None:
        return None
    values = np.asarray(statistics[name], dtype=float)
    n = len(values)
    counts = looked_at(n, min_runs)
    found = None
    for m in counts:
        start = max([at for at in previous if at < n - m], default=0)
        before, after = values[start:n - m], values[n - m:]
        step = float(np.median(after) - np.median(before))
        if after.min() > values[:n - m].max() and after.min() - np.median(before) > math.log1p(threshold):
            found = (m, before, after, step)
    if found is None:
        return None
    m, before, after, step = found
    lo, hi = bootstrap_interval(before, after)
    return dict(at=n - m, ratio=math.exp(step), ratio_lo=math.exp(lo), ratio_hi=math.exp(hi), runs_before=len(before),
                runs_after=m, statistic=name, p_value=sum(1 / math.comb(n, j) for j in counts), verdict="slower")
