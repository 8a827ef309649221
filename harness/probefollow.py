"""Do a backend's kernels follow the probe? How much of the machine's move between two runs a backend's rows hold.

Every timed pass reads the probe (:mod:`harness.probe`: a fixed pure-Python loop on every core, before and after
the pass), and compare holds back a slowdown measured while the machine itself ran slower by more than the
threshold (:func:`harness.interference.machine_demoted`: the ratio of the runs' median probe readings). That
rests on the kernels following the probe. On the quiet Intel Xeon VM they did: its host had phases longer than a
sweep, the probe and numba-cpu's points 1.2-2x faster together. On the 2-vCPU AMD EPYC VM (AVX-512, lscpu
family 25 model 17; 2026-12-04) they do not: its probe reads in two states, 185-200 us or 290-330 us, every run
holds both, and the passes of every point ran as fast in either (median pass time 0.95-1.06x of the point's in
both states, for numpy, numba-cpu and torch); the runs' median readings differ by whichever state held the
majority - 1.14-1.40x between three unchanged inception3a sweeps - and held back every slowdown of the run read
in the slower state: an injected 1.3x or 1.6x was ``slower`` on 44-60% of a backend's rows across those
runs, not because of the data but of the probe.

So each backend's passes testify: within every point of every run (so neither the point's speed nor the run's
state enters), the log of each pass's median time is regressed on the log of its probe reading, pooled over the
backend's points in both runs. The slope is how much of a probe's move the kernels follow; the share of the
machine's move that still counts for a backend is the slope's upper bound (slope + 2 standard errors), clipped
to [0, 1] - the probe is discounted only as far as the backend's own passes show that it does not follow it. A
backend with too few passes, or whose probe readings hardly vary within the runs (the Intel VM's long phases:
nothing to learn from), keeps the probe in full, as before. On the AMD sweeps above the slopes were -0.05-0.20
(upper bounds 0.12-0.51 on inception3a, standard errors 0.04-0.18).
"""
from __future__ import annotations

import math
import statistics

from .pace import left_over
from .passgroups import PASSES_ATTR, PROBES_ATTR

#: How many standard errors above the fitted slope the share counted is (the probe is trusted unless the passes
#: show clearly that the kernels do not follow it).
FOLLOW_Z = 2.0
#: Fewer residual degrees of freedom than this, and the backend keeps the probe in full.
MIN_DOF = 8
#: The probe must vary within the points' runs by at least this standard deviation (of its log) for the fit to say
#: anything: a run held in one state (the Intel VM's phases) leaves the probe in full.
MIN_PROBE_SD = 0.03
#: Where a side of several benchmark files keeps its passes as read (:mod:`harness.benchfiles`: its
#: ``PASSES_ATTR`` holds them with the pace within the side divided out); each file's pace is its probe reading.
RAW_PASSES_ATTR = "raw_passes_s"
#: Where :func:`harness.comparison.compare_tables` puts each backend's share (``attrs``), read by the summary.
FOLLOW_ATTR = "probe_follow"
#: Below this share the ``disturbed`` flag (every pass of a point read the probe >= 1.25x slower than usual,
#: :mod:`harness.probe`) says nothing of the backend's kernels: a probe 1.25x slower then means at most 1.12x.
FLAG_SHARE = 0.5


def point_deviations(attrs: dict) -> dict:
    """``{backend: [(x, y), ...]}`` of a run (a samples table's ``attrs``): per pass with a probe reading, ``x`` the
    log of its reading and ``y`` the log of its median time, each less its point's mean (points with >= 2 such
    passes only)."""
    passes, probes = attrs.get(RAW_PASSES_ATTR) or attrs.get(PASSES_ATTR) or {}, attrs.get(PROBES_ATTR) or {}
    out: dict = {}
    for point, rounds in passes.items():
        readings = probes.get(point) or []
        pairs = [(math.log(p), math.log(statistics.median(r))) for r, p in zip(rounds, readings)
                 if isinstance(p, (int, float)) and 0 < p < math.inf and r and all(0 < t < math.inf for t in r)]
        if len(pairs) < 2:
            continue
        mx, my = (sum(v) / len(pairs) for v in zip(*pairs))
        out.setdefault(point[0], []).append([(x - mx, y - my) for x, y in pairs])
    return out


def follow_share(groups: list) -> float:
    """The share of a probe's move that a backend's kernels follow (0-1) from its points' deviations (``groups``:
    one list of ``(x, y)`` per point and run); 1.0 where the passes cannot tell (too few, or a steady probe)."""
    pairs = [xy for group in groups for xy in group]
    dof = len(pairs) - len(groups) - 1
    sxx = sum(x * x for x, _ in pairs)
    if dof < MIN_DOF or sxx <= 0 or math.sqrt(sxx / len(pairs)) < MIN_PROBE_SD:
        return 1.0
    slope = sum(x * y for x, y in pairs) / sxx
    se = math.sqrt(sum((y - slope * x) ** 2 for x, y in pairs) / dof / sxx)
    bound = slope + FOLLOW_Z * se
    return min(1.0, max(0.0, bound)) if math.isfinite(bound) else 1.0


def probe_follow(base_attrs: dict, new_attrs: dict) -> dict:
    """``{backend: share}`` of the probe's move each backend's kernels follow, from both runs' passes as read (the
    ``attrs`` of their samples tables, :func:`harness.passgroups.with_pass_medians`); a backend not named keeps the
    probe in full (share 1)."""
    groups: dict = {}
    for attrs in (base_attrs, new_attrs):
        for backend, deviations in point_deviations(attrs or {}).items():
            groups.setdefault(backend, []).extend(deviations)
    return {backend: follow_share(g) for backend, g in groups.items()}


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


def probe_flags_count(share: float | None) -> bool:
    """Whether a backend's ``disturbed`` flags (set from the probe alone) may hold back its verdicts: not where its
    kernels follow less than ``FLAG_SHARE`` of the probe's moves. On the AMD VM above, the points whose passes all
    read the probe in its slow state (flagged ``disturbed``) held 17-21% of an injected 1.6x slowdown back as
    inconclusive in a run judged against its own slowed copy; their kernels had run at their usual speed."""
    return share is None or share >= FLAG_SHARE
