"""Whether the pace's move *between* two runs is the machine's, before compare divides it out of them.

:mod:`harness.pace` divides the machine's pace out of every pass of a sweep with a slope fitted *within* the
runs, and out of the move between them with the same slope: across fresh processes of the shared Intel VM that
move was the machine's (unchanged kernels moved 1.6-2.2x from run to run and followed the probe), and dividing
it out is most of why an injected 1.3x is caught on 75-100% of smoke rows instead of 25-50%. But the probe is a
pure-Python loop, and it can move between two runs while the kernels stay put: another Python (each CPython
release runs such loops at a speed of its own), another CPU model, another host of a pool whose interpreter and
vector speeds differ otherwise. Divided out, such a move is a change of every paced backend at once: three
unchanged smoke runs of the Intel VM, NEW's probe edited 1.25x faster with the kernels untouched, made 5 of 6
ordered pairs exit 1 (1 with this module), and edited 1.25x slower gave 54 `faster` rows (6)
(docs/measurements/compare-log.md).

So the move between the runs is divided out only when nothing says it is the probe's alone:

* the runs' probes are different loops (``versions["probe"]``, :data:`harness.probe.PROBE_VERSION`; then their
  readings are not compared at all, no hold-back either: :func:`probes_differ`), or the runs ran different Python
  releases or CPU models (:func:`probe_mismatch`, from their metadata): the loop is not the same work in both, or
  says nothing of how the other machine runs the kernels;
* or the backends themselves say so (:func:`moved_alone`): of the paced backends that the move between the runs
  shifted by ``MIN_PUSH`` or more, at least two, and more than half of them, sit nearer to no change *as
  measured* than with the move divided out. Where the machine moved, its kernels followed it and their
  divided-out rows sit near 1; where the probe moved alone, their rows as measured do. A slowdown of one backend
  does not turn the vote: the others stay where the machine put them.

Otherwise only each run's own changes of pace are divided out (``pace_adjusted(..., across=False)``), the rows
are judged on the move between the runs as measured, and the hold-back of the machine's own move
(:func:`harness.interference.machine_demoted`) applies in full (none where the probes differ); the result says
why in ``attrs["pace_across"]``.
What the vote cannot tell apart: a machine that moved while *every* backend changed by as much the other way;
one voting backend (its slowdown and a probe's move look alike: the move stays divided out); two that disagree
(the machine's reading is kept); and kernels that followed a machine's move between the runs less than half as
strongly as they followed its changes within them (they vote that the probe moved alone; the hold-back then
keeps unchanged code from an alarm, and slowdowns in the machine's direction stay inconclusive).
"""
from __future__ import annotations

import math
import statistics

from .benchpace import MIN_PACE_MOVE, bench_paced, round_paces
from .pace import pace_adjusted
from .passgroups import pass_medians_by_point
from .probe import FIRST_PROBE

#: A backend whose rows the pace's move between the runs shifted by less than this (a log ratio: 1.08x) has no
#: vote: the probe's own process-to-process spread, as for benchmark files (:data:`harness.benchpace.MIN_PACE_MOVE`).
MIN_PUSH = MIN_PACE_MOVE
#: Where compare leaves why the pace's move between the runs was not divided out (None: it was).
ACROSS_ATTR = "pace_across"


def probe_mismatch(base_meta: dict, new_meta: dict) -> str | None:
    """Why the runs' pace probes do not measure one machine's speed (None: nothing says so): different probes
    (``versions["probe"]``, :data:`FIRST_PROBE` where none is recorded), different Python
    releases (3.11 and 3.12: the loop is other work; 3.11.7 and 3.11.8 count as one) or CPU models (interpreter
    and vector speed differ otherwise between them; the comparison then measures the machines, as it should)."""
    metas = [meta if isinstance(meta, dict) else {} for meta in (base_meta, new_meta)]
    versions = [m.get("versions") if isinstance(m.get("versions"), dict) else {} for m in metas]
    other_loops = probes_differ(base_meta, new_meta)
    if other_loops:
        return other_loops
    python = [release(v.get("python")) for v in versions]
    if python[0] and python[1] and python[0] != python[1]:
        return (f"the runs ran different Pythons ({python[0]} vs {python[1]}): the pace probe, a pure-Python loop, "
                "runs at another speed on each")
    cpus = [m.get("cpu_model") if isinstance(m.get("cpu_model"), str) else None for m in metas]
    if cpus[0] and cpus[1] and cpus[0] != cpus[1]:
        return (f"the runs ran on different CPU models ({cpus[0]} vs {cpus[1]}): a pure-Python probe does not tell "
                "how much faster the one runs the kernels")
    return None


def probes_differ(base_meta: dict, new_meta: dict) -> str | None:
    """Why the runs' probe readings are other work (None: the same loop): their ``versions["probe"]`` differ
    (:data:`harness.probe.PROBE_VERSION`; :data:`FIRST_PROBE` where a file records none). Unlike another Python, this
    leaves not even the runs' median readings comparable: compare holds nothing back on their ratio either."""
    probes = [probe_version(base_meta), probe_version(new_meta)]
    if probes[0] == probes[1]:
        return None
    return (f"the runs' pace probes are different loops (version {probes[0]} vs {probes[1]}, "
            "harness.probe.PROBE_VERSION): their readings are not the same work")


def probe_version(meta: dict | None) -> str:
    """The pace probe's version a run's or benchmark file's metadata records (``versions["probe"]``), as text;
    :data:`harness.probe.FIRST_PROBE` where it records none."""
    versions = meta.get("versions") if isinstance(meta, dict) else None
    return str(versions.get("probe", FIRST_PROBE)) if isinstance(versions, dict) else FIRST_PROBE


def release(version) -> str | None:
    """``"3.11"`` of a Python version such as ``"3.11.7"`` (None for anything that is not such a text)."""
    parts = version.split(".") if isinstance(version, str) else []
    return ".".join(parts[:2]) if len(parts) >= 2 and all(p.isdigit() for p in parts[:2]) else None


def backend_shifts(raw: tuple, paced: tuple, backend) -> tuple[float, float] | None:
    """``(as measured, pace divided out)``: the median over ``backend``'s points of the log ratio NEW/BASE of their
    median pass, before and after the pace was divided out (None without a point with passes in both runs)."""
    medians = [pass_medians_by_point(s) for s in (*raw, *paced)]  # base, new as measured; base, new divided
    points = [p for p in medians[0] if p[0] == backend and all(m.get(p) for m in medians)]
    if not points:
        return None
    ratios = [[math.log(statistics.median(new[p]) / statistics.median(base[p])) for p in points]
              for base, new in (medians[:2], medians[2:])]
    return statistics.median(ratios[0]), statistics.median(ratios[1])


def votes(raw: tuple, paced: tuple, slopes: dict) -> dict:
    """``{backend: (moved alone?, (shift as measured, shift divided))}`` of the backends of ``slopes`` that the
    pace's move between the runs shifted by ``MIN_PUSH`` or more (module docstring): ``raw`` and ``paced`` are
    ``(base samples, new samples)`` before and after the pace was divided out."""
    out = {}
    for backend in sorted(slopes, key=str):
        shifts = backend_shifts(raw, paced, backend)
        if shifts is not None and abs(shifts[1] - shifts[0]) >= MIN_PUSH:
            out[backend] = (abs(shifts[0]) < abs(shifts[1]), shifts)
    return out


def moved_alone(cast: dict) -> str | None:
    """Why the pace's move between the runs looks like the probe's alone, by the :func:`votes` ``cast`` (None:
    the machine's, or too few votes to tell)."""
    alone = [b for b, (vote, _) in cast.items() if vote]
    if len(alone) < 2 or 2 * len(alone) <= len(cast):
        return None
    told = ", ".join(f"{b} {math.exp(s[0]):.2f}x as measured, {math.exp(s[1]):.2f}x divided"
                     for b, (_, s) in cast.items())
    return (f"the backends did not follow the pace's move between the runs ({told}): the probe moved, "
            "not the machine")


def paced_runs(base_samples, new_samples, probe_reason: str | None = None, in_blocks: bool = False) -> tuple:
    """``(base samples, new samples, {backend: slope}, why)``: :func:`harness.pace.pace_adjusted` of the runs,
    with the pace's move between them divided out unless ``probe_reason`` (:func:`probe_mismatch`) or
    :func:`moved_alone` says it is not the machine's - then ``why`` says so and only each run's own changes of
    pace are divided out; ``why`` is None otherwise (and where no backend was paced: nothing was divided out).
    ``in_blocks``: pytest-benchmark files, whose pace is only its move between them (:func:`bench_paced`): divided
    out unless ``probe_reason``."""
    if in_blocks and not probe_reason:
        return (*bench_paced(base_samples, new_samples), None)
    if in_blocks:  # nothing divided out; the reason said only where both files had a pace to divide
        paced_files = bool(round_paces(base_samples) and round_paces(new_samples))
        return base_samples, new_samples, {}, probe_reason if paced_files else None
    paced = pace_adjusted(base_samples, new_samples)
    if not paced[2]:
        return (*paced, None)
    cast = {} if probe_reason else votes((base_samples, new_samples), paced[:2], paced[2])
    why = probe_reason or moved_alone(cast)
    if why is not None:
        return (*pace_adjusted(base_samples, new_samples, across=False), why)
    return (*paced, None)
