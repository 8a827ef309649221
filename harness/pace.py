"""The machine's pace during each pass, divided out of the pass's rounds before two runs are compared.

A shared VM runs everything faster or slower for seconds at a time (1.5x for 1-5 s on the 2-vCPU Intel Xeon
VM, and every workload follows, a one-thread Python loop too), and whole processes land on one speed or
another: unchanged microsecond kernels moved 1.6-2.2x from run to run. So every timed round of a CPU pass is
followed by a short fixed probe (:func:`harness.probe.pace_s`) and the pass's record carries the median of
those readings, ``pace_s``: how fast the machine ran *while* this pass ran, not before it.

compare then treats the pace as a control variate (CUPED): per backend, the slope of a pass's log median on
its log pace is fitted on the passes' deviations from their point's mean *within* each run - so a change of
the code between the runs, which moves all of a run's passes together, does not enter it - clipped to
``[0, MAX_SLOPE]``; every pass's rounds are then scaled by ``(pace / reference) ** -slope``, the reference
being the point's median pace over both runs. Measured on the Intel VM (12 + 10 fresh processes, passes of
0.17 s as a default sweep's): the run-to-run spread of a point's median (sd of the log ratio over every pair)
fell from 0.20-0.36 to 0.07-0.15 for smoke-sized numpy, Numba and torch kernels, and from 0.07-0.16 to
0.05-0.12 for Inception 3a's layers (torch 3x3 0.087 -> 0.100, the one that lost). In fresh sweeps the fits
gave numba-cpu 0.91-0.99, numpy 1.29-1.64, torch 1.22-1.51 on smoke and 0.55-0.76 on inception3a, and an
injected 1.3x was caught on 75-92% of the slowed backend's smoke rows across separate runs (25-50% without),
100% within A/B runs (39-83%), 80-96% of inception3a's (62-78%), no A/A pair exiting 1
(docs/measurements/compare-log.md).

A backend is adjusted only when every point it has in both runs carries a pace on every pass (runs from
before ``pace_s``, GPU points and ``--clock process`` runs carry none; pytest-benchmark files have a rule of their
own, :mod:`harness.benchpace`) and none lies
``PACE_RANGE`` from its run's median (a damaged file), at most ``MAX_CONTENDED_FRACTION`` of its multi-thread
passes met other busy processes, its uncontended passes give at least ``MIN_PACED_PASSES`` deviations and the
slope comes out at ``MIN_SLOPE`` or more: otherwise its rows are judged as measured. (compare also leaves a
backend it judges on pooled rounds as measured, and holds back what the pace left of the machine's own move:
:func:`left_over`.) What a pace cannot tell apart: a change of the code that slows the
machine for the probe too (a kernel leaving its core downclocked) is divided out in part.
"""
from __future__ import annotations

import math
import statistics
from typing import NamedTuple

from .contention import is_contended
from .passgroups import PACES_ATTR, PASSES_ATTR, SHARES_ATTR, THREADS_ATTR, derive

#: A backend's slope needs this many within-run pass deviations (two runs of three points of three passes: 18).
MIN_PACED_PASSES = 6
#: The slope's clip: tiny interpreter-bound calls follow the probe ~1.5-2x as strongly (Intel VM); beyond that
#: the fit is chasing a burst.
MAX_SLOPE = 2.0
#: A backend more than this fraction of whose multi-threaded passes (both runs together) met other busy processes
#: (``contended``, :mod:`harness.contention`) is not adjusted: a kernel that needs every core is time-sliced in a
#: way the one-thread probe does not follow (beside a busy loop the fits ran into the clip and numba-cpu's 1.6x
#: was caught on 17% of smoke rows instead of 64%), while a one-thread kernel keeps a core as the probe does
#: (``--threads 1`` beside a busy loop: numpy's 1.3x 67% -> 97%, numba-cpu's 81% -> 64%, torch's 100% both).
#: The fit uses the uncontended passes only.
MAX_CONTENDED_FRACTION = 0.25
#: A slope below this is no pace the backend follows (0.55-1.64 were fitted on the Intel VM): judged as measured.
MIN_SLOPE = 0.1
#: A pace reading this many times away from its run's median either way is damaged, not a machine's speed.
PACE_RANGE = 100.0
#: Where :func:`pace_adjusted` leaves each adjusted backend's slope on the comparison (``{backend: slope}``).
SLOPES_ATTR = "pace_slopes"


def full_paces(samples) -> dict:
    """``{(backend, case): [pace of each pass]}`` of the points of a samples table whose every pass carries a
    pace: a positive, finite number within ``PACE_RANGE`` times the run's median pace either way ({} for a table
    without passes). A damaged reading (a string, a bool, 1e-300) leaves its point, and so its backend, as measured."""
    attrs = getattr(samples, "attrs", None) or {}
    passes, paces = attrs.get(PASSES_ATTR) or {}, attrs.get(PACES_ATTR) or {}
    readable = {point: [reading(p) for p in paces.get(point) or []] for point in passes}
    return {point: known for point, known in plausible(readable).items() if len(known) == len(passes[point])}


def plausible(readable: dict) -> dict:
    """The entries of ``readable`` (``{key: [reading, or None where unreadable]}``) that hold readings, every one
    known and within ``PACE_RANGE`` times the median of all known readings either way."""
    every = sorted(p for known in readable.values() for p in known if p is not None)
    if not every:
        return {}
    middle = every[len(every) // 2]
    low, high = middle / PACE_RANGE, middle * PACE_RANGE
    return {key: known for key, known in readable.items() if known and all(p is not None and low <= p <= high
                                                                           for p in known)}


def reading(value) -> float | None:
    """A pace reading as a float, None unless it is a positive, finite number (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        value = float(value)
    except OverflowError:  # an int beyond any float (a damaged file)
        return None
    return value if 0 < value < math.inf else None


def pace_slope(runs: list[tuple[dict, dict]], points: list) -> float | None:
    """The least-squares slope of a pass's log median on its log pace, over the deviations of ``points``' passes
    from their point's mean within each run of ``runs`` (``(passes, paces)`` pairs), clipped to
    ``[0, MAX_SLOPE]``; None with fewer than ``MIN_PACED_PASSES`` deviations or paces that never varied."""
    sxy = sxx = 0.0
    count = 0
    for passes, paces in runs:
        for point in points:
            rounds, pace = passes[point], paces[point]
            if len(rounds) < 2:
                continue
            times = [math.log(statistics.median(r)) for r in rounds]
            logs = [math.log(p) for p in pace]
            mt, mp = statistics.fmean(times), statistics.fmean(logs)
            sxy += sum((t - mt) * (p - mp) for t, p in zip(times, logs))
            sxx += sum((p - mp) ** 2 for p in logs)
            count += len(rounds)
    if count < MIN_PACED_PASSES or not sxx > 0:
        return None
    return min(MAX_SLOPE, max(0.0, sxy / sxx))


def paced_backends(base_paces: dict, new_paces: dict, base_passes: dict, new_passes: dict) -> dict:
    """``{backend: [points]}`` of the backends every point of which that both runs hold carries a pace on every
    pass in both."""
    both = set(base_passes) & set(new_passes)
    out: dict = {}
    lacking = set()
    for point in both:
        if point in base_paces and point in new_paces:
            out.setdefault(point[0], []).append(point)
        else:
            lacking.add(point[0])
    return {b: sorted(points, key=str) for b, points in out.items() if b not in lacking}


def scaled(rounds: list, paces: list, reference: float, slope: float) -> list:
    """Each pass's rounds times ``(pace / reference) ** -slope``: as if the pass had run at the reference pace."""
    return [tuple(t * (p / reference) ** -slope for t in r) for r, p in zip(rounds, paces)]


def with_passes(samples, passes: dict):
    """A shallow copy of ``samples`` whose pass attributes are derived from ``passes`` (the original untouched)."""
    out = samples.copy(deep=False)
    out.attrs = dict(samples.attrs)
    out.attrs[PASSES_ATTR] = passes
    derive(out.attrs, passes)
    return out


class Fit(NamedTuple):
    """A run's passes for the fit - those that met no busy process or ran on one thread - and their paces, with per
    point how many of its multi-thread passes met one (``contended``) of how many (``total``)."""
    passes: dict
    paces: dict
    contended: dict
    total: dict


def uncontended_fit(samples, passes: dict, paces: dict) -> Fit:
    """The :class:`Fit` of a run's ``passes`` and ``paces`` (shares and threads from ``attrs["pass_shares"]``,
    ``attrs["pass_threads"]``)."""
    attrs = getattr(samples, "attrs", None) or {}
    shares, threads = attrs.get(SHARES_ATTR) or {}, attrs.get(THREADS_ATTR) or {}
    fit_passes, fit_paces, contended, total = {}, {}, {}, {}
    for point, pace in paces.items():
        point_shares = shares.get(point) or [None] * len(pace)
        one_thread = threads.get(point) == 1
        keep = [i for i, share in enumerate(point_shares) if one_thread or not is_contended(share)]
        fit_passes[point] = [passes[point][i] for i in keep]
        fit_paces[point] = [pace[i] for i in keep]
        contended[point], total[point] = len(pace) - len(keep), 0 if one_thread else len(pace)
    return Fit(fit_passes, fit_paces, contended, total)


def pace_adjusted(base_samples, new_samples, across: bool = True) -> tuple:
    """``(base samples, new samples, {backend: slope})``: both runs' passes with the pace divided out (module
    docstring) for every backend that can be adjusted; the tables come back unchanged (the same objects) when
    none can. Only the pass attributes change; the pooled samples stay as measured. ``across=False`` divides out
    only each run's own changes of pace (the reference is the median pace of the backend's passes in that run:
    each backend has a worker process of its own, and one worker's probe can read slow for its whole life - numpy's
    at 140-154 us beside the others' 114-119 us in one AMD EPYC run, which against the whole run's median came out
    1.2-1.6x faster than measured, 6 of 56 unchanged pairs exiting 1): the move of the pace between the runs, and
    between one run's workers, stays in the times (:mod:`harness.pacetrust`)."""
    paces = [full_paces(base_samples), full_paces(new_samples)]
    if not (paces[0] and paces[1]):
        return base_samples, new_samples, {}
    passes = [dict(s.attrs[PASSES_ATTR]) for s in (base_samples, new_samples)]
    fits = [uncontended_fit(s, p, q) for s, p, q in zip((base_samples, new_samples), passes, paces)]
    slopes = {}
    for backend, points in paced_backends(*paces, *passes).items():
        contended = sum(fit.contended[point] for fit in fits for point in points)
        if contended > MAX_CONTENDED_FRACTION * sum(fit.total[point] for fit in fits for point in points):
            continue
        slope = pace_slope([(fit.passes, fit.paces) for fit in fits], points)
        if slope is None or slope < MIN_SLOPE:
            continue
        slopes[backend] = slope
        own = [statistics.median(p for point in points for p in side[point]) for side in paces]  # this worker's
        for point in points:
            both = statistics.median(paces[0][point] + paces[1][point])
            for side in (0, 1):
                reference = both if across else own[side]
                passes[side][point] = scaled(passes[side][point], paces[side][point], reference, slope)
    if not slopes:
        return base_samples, new_samples, {}
    return with_passes(base_samples, passes[0]), with_passes(new_samples, passes[1]), slopes


def left_over(machine: float, slope: float | None) -> float:
    """What of the machine's change of speed (its probe ratio) a backend's rows still hold once its pace was
    divided out with ``slope`` (None: not divided out): ``machine ** (1 - slope)``, none at a
    slope of 1 or more."""
    return machine if slope is None or not math.isfinite(machine) else machine ** max(0.0, 1.0 - slope)
