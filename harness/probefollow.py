"""Do a backend's kernels follow the probe? How much of the machine's move between two runs a backend's rows hold.

Every timed pass reads the probe (:mod:`harness.probe`: a fixed pure-Python loop on every core, before and after
the pass), and compare holds back a slowdown measured while the machine itself ran slower by more than the
threshold (:func:`harness.interference.machine_demoted`: the ratio of the runs' median probe readings). That
rests on the kernels following the probe. On the Intel Xeon VM they did: its host had phases longer than a sweep,
the probe and numba-cpu's points 1.2-2x faster together. On the 2-vCPU AMD EPYC VM (AVX-512, lscpu family 25
model 17; 2026-12-04) they did not: its probe read in two states, 185-200 us or 290-330 us, every run held both,
and the passes of every point ran as fast in either (median pass time 0.95-1.06x of the point's in both states,
numpy, numba-cpu and torch); the runs' median readings differed by whichever state held the majority - 1.14-1.40x
between three unchanged inception3a sweeps, the backends' points 0.99-1.08x - and held back every slowdown of the
run read in the slower state: an injected 1.3x or 1.6x was ``slower`` on 44-60% of a backend's rows across those
runs, because of the probe, not of the data.

Two witnesses must agree before the probe counts for less than in full (:func:`confirmed`):

- *Within the runs.* Within every point of both runs (so neither the point's speed nor the code's change enters),
  the log of each pass's median time is regressed on the log of its probe reading, pooled over the backend's
  points; readings 3x or more from their point's median are left out (damaged), and a run compared with its own
  copy counts its passes once. The share is the slope's upper bound (slope + 2 standard errors), clipped to [0, 1];
  1 with fewer than ``MIN_DOF`` residual degrees of freedom, or fewer than ``MIN_MOVED_PASSES`` readings that moved
  by ``MIN_PROBE_SD`` or more from their point's median (a steady probe, or one freak reading, cannot decide it).
  A reading taken around a pass measures the pass's state with noise, which pulls such a slope towards 0 where
  the kernels do follow the machine - so this witness alone is not enough.
- *Between the runs.* The other backends' points must not have moved with the machine: each backend whose
  expected move (the machine's move as far as its pace left it, :func:`harness.pace.left_over`) is at least
  ``MIN_VOTE_MOVE`` votes by where the median of its points' log ratios sits - nearer to no change or nearer to
  the machine's move - and the share applies to a backend only when at least one other backend voted and every
  other voter sits nearer to no change. A backend's own slowdown does not vote for it. On the AMD runs above the
  other backends sat at 0.99-1.08x against a probe 1.14-1.40x; where a machine really moved and the kernels
  followed, they sit with it, and the hold-back stands in full.

The ``disturbed`` flag (a point whose every pass read the probe slow) is left as it is: the noise of a reading
around a pass is what it guards against, and the within-run slope alone cannot tell it from kernels that do not
follow.
"""
from __future__ import annotations

import math
import statistics

from .pace import left_over
from .passgroups import PASSES_ATTR, PROBES_ATTR

#: How many standard errors above the fitted slope the share counted is.
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
#: A backend votes only where the machine's move left in its rows is at least this (a log ratio, 1.05x either way).
MIN_VOTE_MOVE = math.log(1.05)
#: Where :func:`harness.comparison.compare_tables` puts each backend's share (``attrs``), read by the summary.
FOLLOW_ATTR = "probe_follow"


def point_readings(attrs: dict) -> dict:
    """``{backend: {point: tuple of (x, y)}}`` of a run (a samples table's ``attrs``): per pass with a readable
    probe reading and readable rounds, ``x`` the log of its reading and ``y`` the log of its median time (points
    with >= 2 such passes only)."""
    passes, probes = attrs.get(PASSES_ATTR) or {}, attrs.get(PROBES_ATTR) or {}
    out: dict = {}
    for point, rounds in passes.items():
        pairs = tuple((math.log(p), math.log(statistics.median(r))) for r, p in zip(rounds, probes.get(point) or [])
                      if readable(p) and len(r) and all(readable(t) for t in r))
        if len(pairs) >= 2:
            out.setdefault(point[0], {})[point] = pairs
    return out


def readable(value) -> bool:
    """A positive, finite number (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < math.inf


def centred(groups: list) -> list:
    """Each group's ``(x, y)`` less the group's means, readings ``MAX_READING_MOVE`` or more from their group's median
    left out (damaged); a group left with one pass drops out. [] where fewer than ``MIN_MOVED_PASSES`` readings
    differ from their group's median by ``MIN_PROBE_SD`` or more: a steady probe, or one freak reading, says
    nothing of how the kernels follow it."""
    out, moved = [], 0
    for group in groups:
        middle = statistics.median(x for x, _ in group)
        kept = [(x, y) for x, y in group if abs(x - middle) < MAX_READING_MOVE]
        moved += sum(abs(x - middle) >= MIN_PROBE_SD for x, _ in kept)
        if len(kept) >= 2:
            mx, my = (sum(v) / len(kept) for v in zip(*kept))
            out.append([(x - mx, y - my) for x, y in kept])
    return out if moved >= MIN_MOVED_PASSES else []


def follow_share(groups: list) -> float:
    """The upper bound (0-1) of how far a backend's kernels follow the probe, from its points' readings
    (``groups``: one sequence of ``(log reading, log time)`` per point and run, :func:`centred` first); 1.0 where
    the passes cannot tell (too few, or a steady probe)."""
    groups = centred(groups)
    pairs = [xy for group in groups for xy in group]
    dof = len(pairs) - len(groups) - 1
    sxx = sum(x * x for x, _ in pairs)
    if dof < MIN_DOF or sxx <= 0:
        return 1.0
    slope = sum(x * y for x, y in pairs) / sxx
    bound = slope + FOLLOW_Z * math.sqrt(sum((y - slope * x) ** 2 for x, y in pairs) / dof / sxx)
    return min(1.0, max(0.0, bound)) if math.isfinite(bound) else 1.0


def probe_follow(base_attrs: dict, new_attrs: dict) -> dict:
    """``{backend: share}`` (:func:`follow_share`) from both runs' passes as read (the ``attrs`` of their samples
    tables, :func:`harness.passgroups.with_pass_medians`); a point whose passes are the same in both runs (a run
    against its own copy) counts once; a backend not named keeps the probe in full."""
    groups: dict = {}
    base, new = point_readings(base_attrs or {}), point_readings(new_attrs or {})
    for backend in set(base) | set(new):
        mine, theirs = base.get(backend, {}), new.get(backend, {})
        groups[backend] = list(mine.values()) + [g for p, g in theirs.items() if mine.get(p) != g]
    return {backend: follow_share(g) for backend, g in groups.items()}


def confirmed(shares: dict, ratios: list, machine: float, slopes: dict) -> dict:
    """``shares`` where the other backends confirm them, 1.0 elsewhere (module docstring, "Between the runs"):
    ``ratios`` are the matched points' ``(backend, log ratio NEW/BASE, se)``, ``machine`` the ratio of the runs'
    median probe readings, ``slopes`` the pace's slopes it was divided out with across the runs."""
    if not math.isfinite(machine) or machine <= 0:
        return dict(shares)
    by_backend: dict = {}
    for backend, log_ratio, _ in ratios:
        by_backend.setdefault(backend, []).append(log_ratio)
    votes = {}
    for backend, logs in by_backend.items():
        expected = math.log(left_over(machine, slopes.get(backend)))
        if abs(expected) >= MIN_VOTE_MOVE:
            moved = statistics.median(logs)
            votes[backend] = abs(moved) < abs(moved - expected)  # True: nearer to no change than to the machine
    out = {}
    for backend, share in shares.items():
        others = [stayed for voter, stayed in votes.items() if voter != backend]
        out[backend] = share if others and all(others) else 1.0
    return out


def machine_for(machine: float, share: float | None) -> float:
    """The machine's move (a ratio of probe readings) as far as a backend that follows ``share`` of it holds it
    (``share`` None: in full); NaN stays NaN."""
    if share is None or not math.isfinite(machine) or machine <= 0:
        return machine
    return machine ** share


def machine_left(machine: float, slope: float | None, share: float | None) -> float:
    """What of the machine's move a backend's rows still hold once its pace was divided out with ``slope``
    (:func:`harness.pace.left_over`) and as far as its kernels follow the probe (``share``, :func:`machine_for`)."""
    return machine_for(left_over(machine, slope), share)
