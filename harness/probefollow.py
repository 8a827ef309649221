"""Do a backend's kernels follow the probe? How much of the machine's move between two runs a backend's rows hold.

Every timed pass reads the probe (:mod:`harness.probe`: a fixed pure-Python loop, just before and just after the
pass), and compare holds back a slowdown measured while the machine itself ran slower by more than the threshold
(:func:`harness.interference.machine_demoted`: the ratio of the runs' median probe readings). That rests on the
kernels following the probe. On the Intel Xeon VM they did: its host had phases longer than a sweep, the probe and
numba-cpu's points 1.2-2x faster together. On the 2-vCPU AMD EPYC VM (AVX-512, lscpu family 25 model 17) they did
not: its probe read in two states, 185-200 us or 290-330 us, every run held both, and the passes of every point
ran as fast in either (median pass time 0.95-1.06x of the point's in both states); the runs' median readings
differed 1.14-1.40x between unchanged inception3a sweeps and held back an injected 1.3x on 40-56% of the rows.

So each backend's passes testify. Within every point of a run (neither the point's speed nor the code's change
enters), the log of each pass's median time is regressed on the log of the probe around it (the mean of the logs
of the reading before and the reading after), pooled over the backend's points in both runs. The slope is how
much of the probe's move the kernels follow.

A reading is a noisy witness of the state the pass ran in, and noise in the regressor pulls a slope towards 0
(attenuation) - read as kernels that ignore the machine where they follow it. An earlier version of this rule
(reverted) failed there on synthetic runs. The two readings of a pass measure that noise: their difference has
twice the variance of one reading's noise, so the noise in their mean is a quarter of the variance of the
differences, and the share of the probe's within-point variance that is noise is known. The slope and its standard
error are divided by the reliability (1 - that share): the classical errors-in-variables correction. Where the
state changed during a pass the two readings disagree too; that inflates the noise, lowers the reliability and
raises the corrected slope - towards holding back, the safe side.

The share of the machine's move that still counts for a backend is the corrected slope's upper bound (slope +
``FOLLOW_Z`` standard errors), clipped to [0, 1]. It stays 1 (the probe in full, as before) where the passes
cannot tell: runs recorded before both readings were kept, fewer than ``MIN_DOF`` residual degrees of freedom,
fewer than ``MIN_MOVED_PASSES`` readings that moved, or a reliability under ``MIN_RELIABILITY``.
"""
from __future__ import annotations

import math
import statistics

from .pace import left_over
from .passgroups import PASSES_ATTR, PROBES_ATTR

#: How many standard errors above the corrected slope the share counted is.
FOLLOW_Z = 2.0
#: Fewer residual degrees of freedom than this, and the backend keeps the probe in full.
MIN_DOF = 8
#: A reading counts as moved where it differs from its point's median reading by this much (a log ratio, ~3%) ...
MIN_PROBE_SD = 0.03
#: ... and the fit says anything only where at least this many of a backend's readings moved (one freak reading,
#: or a probe steady within the runs - the Intel VM's phases longer than a sweep - leaves the probe in full).
MIN_MOVED_PASSES = 6
#: A reading this far from its point's median (3x either way) is damaged, not a state of the machine.
MAX_READING_MOVE = math.log(3.0)
#: Below this share of the probe's within-point variance that is not reading noise, the passes cannot tell.
MIN_RELIABILITY = 0.3
#: The reading noise is taken at the upper bound of this confidence (its estimate from a few dozen differences
#: is itself uncertain, and too low an estimate would let a real phase of the machine through).
NOISE_CONFIDENCE = 0.975
#: Where :func:`harness.comparison.compare_tables` puts each backend's share (``attrs``), read by the summary.
FOLLOW_ATTR = "probe_follow"


def readable(value) -> bool:
    """A positive, finite number (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < math.inf


def point_readings(attrs: dict) -> dict:
    """``{backend: {point: tuple of (x, d, y)}}`` of a run (a samples table's ``attrs``): per pass with both probe
    readings and readable rounds, ``x`` the mean of the logs of its readings before and after, ``d`` their
    difference and ``y`` the log of its median time (points with >= 2 such passes only)."""
    passes, probes = attrs.get(PASSES_ATTR) or {}, attrs.get(PROBES_ATTR) or {}
    out: dict = {}
    for point, rounds in passes.items():
        rows = []
        for r, pair in zip(rounds, probes.get(point) or []):
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and all(map(readable, pair))):
                continue
            if len(r) and all(readable(t) for t in r):
                before, after = math.log(pair[0]), math.log(pair[1])
                rows.append(((before + after) / 2, before - after, math.log(statistics.median(r))))
        if len(rows) >= 2:
            out.setdefault(point[0], {})[point] = tuple(rows)
    return out


def centred(groups: list) -> tuple:
    """``(pairs, groups kept, differences)``: each group's ``(x, y)`` less the group's means, readings
    ``MAX_READING_MOVE`` or more from their group's median left out (damaged), a group left with one pass dropped,
    and the reading differences ``d`` of the passes kept; ``([], 0, [])`` where fewer than ``MIN_MOVED_PASSES``
    readings differ from their group's median by ``MIN_PROBE_SD`` or more (a steady probe, or one freak reading)."""
    pairs, kept_groups, diffs, moved = [], 0, [], 0
    for group in groups:
        middle = statistics.median(x for x, _, _ in group)
        kept = [(x, d, y) for x, d, y in group if abs(x - middle) < MAX_READING_MOVE]
        moved += sum(abs(x - middle) >= MIN_PROBE_SD for x, _, _ in kept)
        if len(kept) >= 2:
            mx, my = (sum(v) / len(kept) for v in ([x for x, _, _ in kept], [y for _, _, y in kept]))
            pairs += [(x - mx, y - my) for x, _, y in kept]
            diffs += [d for _, d, _ in kept]
            kept_groups += 1
    return (pairs, kept_groups, diffs) if moved >= MIN_MOVED_PASSES else ([], 0, [])


def reliability(sxx: float, dof_x: int, diffs: list) -> float:
    """The share of the centred probe's sum of squares ``sxx`` (over ``dof_x`` within-point degrees of freedom)
    that is not reading noise, the noise of a pass's mean reading being a quarter of the variance of ``diffs`` - at
    that variance's upper ``NOISE_CONFIDENCE`` bound (chi-square), so an unlucky estimate errs towards holding back."""
    if len(diffs) < 2 or sxx <= 0:
        return 0.0
    from scipy.stats import chi2

    dof_d = len(diffs) - 1
    noise = statistics.variance(diffs) * dof_d / float(chi2.ppf(1 - NOISE_CONFIDENCE, dof_d)) / 4
    return 1.0 - dof_x * noise / sxx


def follow_share(groups: list) -> float:
    """The upper bound (0-1) of how far a backend's kernels follow the probe, from its points' passes (``groups``:
    one sequence of ``(x, d, y)`` per point and run, :func:`point_readings`), corrected for the readings' noise;
    1.0 where the passes cannot tell."""
    pairs, kept, diffs = centred(groups)
    dof = len(pairs) - kept - 1
    sxx = sum(x * x for x, _ in pairs)
    if dof < MIN_DOF or sxx <= 0:
        return 1.0
    lam = reliability(sxx, len(pairs) - kept, diffs)
    if lam < MIN_RELIABILITY:
        return 1.0
    slope = sum(x * y for x, y in pairs) / sxx
    se = math.sqrt(sum((y - slope * x) ** 2 for x, y in pairs) / dof / sxx)
    bound = (slope + FOLLOW_Z * se) / lam
    return min(1.0, max(0.0, bound)) if math.isfinite(bound) else 1.0


def probe_follow(base_attrs: dict, new_attrs: dict) -> dict:
    """``{backend: share}`` (:func:`follow_share`) from both runs' passes as read (the ``attrs`` of their samples
    tables, :func:`harness.passgroups.with_pass_medians`); a point whose passes are the same in both runs (a run
    against its own copy) counts once; a backend not named keeps the probe in full."""
    base, new = point_readings(base_attrs or {}), point_readings(new_attrs or {})
    groups: dict = {}
    for backend in set(base) | set(new):
        mine, theirs = base.get(backend, {}), new.get(backend, {})
        groups[backend] = list(mine.values()) + [g for p, g in theirs.items() if mine.get(p) != g]
    return {backend: follow_share(g) for backend, g in groups.items()}


def machine_left(machine: float, slope: float | None, share: float | None) -> float:
    """What of the machine's move (a ratio of probe readings) a backend's rows still hold once its pace was divided
    out with ``slope`` (:func:`harness.pace.left_over`) and as far as its kernels follow the probe (``share``, None:
    in full); NaN stays NaN."""
    left = left_over(machine, slope)
    if share is None or not math.isfinite(left) or left <= 0:
        return left
    return left ** share
