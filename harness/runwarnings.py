"""What ``harness compare`` warns of in the runs themselves, beside its verdicts.

* :func:`environment_warnings`: the runs were made on different hosts, CPU models, GPUs or Numba threading
  layers, at different thread counts, or with different library versions - a comparison across machines
  or environments measures them as much as the code;
* :func:`busy_runs`: half or more of a run's points met other busy processes (or, for a run from before
  ``others_share``, it was started on busy cores), with kernels on more than one thread - where points scatter
  far beyond what their rounds show;
* :func:`slow_files`: a side's benchmark files ran more than a tenth of their rounds in the machine's slow state,
  where unchanged medians move more between files than a 10% threshold allows - or only their probe read slow and
  the benchmarks' times did not follow it (:func:`times_followed`), which is the probe's doing, not the machine's.

The verdicts stand; the warnings say how far to trust them and what to do. The CLI prints them, the
Python API returns them in ``attrs["warnings"]`` and issues them with :func:`warnings.warn`.
"""
from __future__ import annotations

import math
import statistics

from .abhalves import split_ref
from .benchfiles import PATHS_KEY
from .benchpace import MIN_FIT_MOVES, machine_move, pair_slope, round_paces
from .contention import is_contended, known_share
from .pacetrust import probe_mismatch
from .settings import CONTENDED_SHARE, SLOW_PACE

#: :func:`slow_files` warns of a side with more than this share of its rounds in the slow state. Fifty pairs of
#: unchanged files on that VM (ten sets of ten back to back, docs/regression-gates.md), each pair's paces against
#: the lower of its files' 2nd percentiles: where both files stayed at or under it (23 pairs), 382 of 391 medians
#: (98%) agreed within +/-10%; where one went over (27 pairs), 362 of 459 (79%).
SLOW_SHARE = 0.10
#: Fewer paced rounds than this on a side say too little of its state (a file of a benchmark or two).
MIN_SLOW_ROUNDS = 100
#: Benchmarks whose times followed their paces' move between the sides with a slope below this (the pair's
#: median, :func:`harness.benchpace.pair_slope`) did not follow it: one session in ten on the AMD EPYC VM read the
#: probe 1.40x slower throughout while its kernels ran as before (slope 0.00).
NOT_FOLLOWED_SLOPE = 0.2
#: How :func:`slow_files` names a probe that moved alone (and :func:`probe_alone` finds that warning).
PROBE_ALONE = "the probe's own reading (of that process, or of a state that slowed only it)"


def environment_warnings(base_meta: dict, new_meta: dict, base_table=None, new_table=None) -> list[str]:
    """Differences between the runs' machines, thread counts and library versions worth a warning."""
    warnings = []
    for key, what in (("host", "hosts"), ("cpu_model", "CPU models"), ("gpu", "GPUs"),
                      ("numba_threading_layer", "Numba threading layers")):
        if base_meta.get(key) != new_meta.get(key):
            warnings.append(f"different {what}: {base_meta.get(key)!r} vs {new_meta.get(key)!r}")
    if base_table is not None and new_table is not None:
        tb, tn = sorted(set(base_table["threads"].dropna())), sorted(set(new_table["threads"].dropna()))
        if tb != tn:
            warnings.append(f"different thread counts: {tb} vs {tn}")
    vb, vn = base_meta.get("versions") or {}, new_meta.get("versions") or {}
    vb, vn = (v if isinstance(v, dict) else {} for v in (vb, vn))
    for lib in sorted(set(vb) & set(vn)):
        if vb[lib] != vn[lib]:
            warnings.append(f"different {lib} versions: {vb[lib]} vs {vn[lib]}")
    for side, own, other in (("base", vb, vn), ("new", vn, vb)):
        # an older run file that did not record them: not a difference (a probe's version: see harness.pacetrust)
        unrecorded = sorted(set(other) - set(own) - {"probe"})
        if unrecorded:
            warnings.append(f"the {side} run does not record the versions of {', '.join(unrecorded)} (written by an "
                            "older convbench): whether they differ is unknown")
    return warnings


def busy_runs(base_meta: dict, new_meta: dict, base_table=None, new_table=None) -> list[str]:
    """A warning for each run (sweeps only) that timed kernels on more than one thread on cores other processes kept
    busy: at least half of its multi-thread points whose ``others_share`` is known were ``contended`` (a share at or
    above ``CONTENDED_SHARE``, measured during each point's median pass), or, for a run from before that column,
    started with the 1-minute load average at or above ``cpu_count`` (its metadata's ``load_before``, which lags a
    process that just ended: quiet runs right after a busy one were warned). There a kernel's threads wait for the
    busy cores and its points scatter far beyond their rounds: on the 2-vCPU Intel VM beside one busy loop, an
    injected 1.3x was caught on 0-26% of inception3a rows at 2 threads and on 96-98% at ``--threads 1``
    (docs/compare.md). Both builds of one A/B run are one run, one warning."""
    out = []
    ab = base_meta.get("run_id") is not None and base_meta.get("run_id") == new_meta.get("run_id")
    sides = [("BASE", base_meta, [base_table]), ("NEW", new_meta, [new_table])]
    if ab:
        sides = [("the run", new_meta, [base_table, new_table])]
    for name, meta, tables in sides:
        tables = [t for t in tables if t is not None]
        threads = [t["threads"].dropna().max() for t in tables if "threads" in t and t["threads"].notna().any()]
        if threads and max(threads) <= 1:
            continue
        contended, known = (sum(c) for c in zip((0, 0), *(contended_points(t) for t in tables)))
        load, cores = meta.get("load_before"), meta.get("cpu_count")
        if known:
            if not contended or 2 * contended < known:
                continue
            reason = (f"timed {contended} of its {known} points on more than one thread beside other busy processes "
                      f"(they held {CONTENDED_SHARE:.0%} or more of its cores)")
        elif isinstance(load, (int, float)) and isinstance(cores, int) and cores >= 1 and load >= cores:
            reason = (f"was started with the load average at {load:.2f} on {cores} cores (other processes kept them "
                      "busy) and kernels on more than one thread")
        else:
            continue
        advice = "sweep both builds with --threads 1" + ("" if ab else " (best: one A/B run, sweep --against)")
        out.append(f"{name} {reason}: its points scatter far beyond their rounds; on a shared machine {advice}")
    return out


def contended_points(table) -> tuple[int, int]:
    """``(contended, known)``: of a run table's points timed on more than one thread whose ``others_share`` is
    known, how many met other busy processes (a share at or above ``CONTENDED_SHARE``); (0, 0) for a table
    without the columns (a run from before them, pytest-benchmark)."""
    if table is None or not {"threads", "others_share", "status"} <= set(table.columns):
        return 0, 0
    rows = table[(table["status"] == "ok") & (table["threads"] > 1)]
    shares = [share for share in rows["others_share"] if known_share(share)]
    return sum(is_contended(share) for share in shares), len(shares)


def slow_files(base: tuple, new: tuple) -> list[str]:
    """A warning for each side of a pytest-benchmark comparison (``(label, table, samples, metadata)`` each) that ran
    more than ``SLOW_SHARE`` of its paced rounds in the machine's slow state (:data:`SLOW_PACE` times the usual
    reading: the lower of the two sides' 2nd percentiles where their probes are the same work, so a file slow
    throughout is named too; else each side's own); none for sweeps (their points carry ``disturbed``) nor for both
    builds of the same A/B file(s) (``FILE@base`` against ``FILE``, either way round: they met the same machine)."""
    (base_label, _, base_samples, base_meta), (new_label, _, new_samples, new_meta) = base, new
    files = [set((meta or {}).get(PATHS_KEY) or ()) for meta in (base_meta, new_meta)]
    if files[0] and files[0] == files[1] and split_ref(base_label)[1] != split_ref(new_label)[1]:
        return []
    by_bench = [round_paces(s) for s in (base_samples, new_samples)]
    paces = [sorted(p for ps in side.values() for p in ps) for side in by_bench]
    usual = [side[int(0.02 * (len(side) - 1))] if len(side) >= MIN_SLOW_ROUNDS else math.inf for side in paces]
    same_probe = not probe_mismatch(base_meta or {}, new_meta or {})
    if same_probe:
        usual = [min(usual)] * 2
    out, followed = [], times_followed(base_samples, new_samples, *by_bench) if same_probe else None
    for name, side, side_usual in zip(("BASE", "NEW"), paces, usual):
        share = sum(p > SLOW_PACE * side_usual for p in side) / max(len(side), 1)
        if len(side) < MIN_SLOW_ROUNDS or share <= SLOW_SHARE:
            continue
        if followed is not None and not followed[0] and followed[3] == name:  # the side the pace moved towards
            out.append(f"{name}'s probe read over {SLOW_PACE}x its usual on {share:.0%} of its benchmark rounds, "
                       f"but the benchmarks' times did not follow it (slope {followed[1]:.2f} over {followed[2]} "
                       f"benchmarks whose pace moved): most likely {PROBE_ALONE}, or a change of the code that offset "
                       f"a slower machine; the rows whose pace moved are held back with widened floors - re-run "
                       f"{name} before suspecting the code")
        else:
            out.append(f"{name} ran {share:.0%} of its benchmark rounds while the machine's pace read over "
                       f"{SLOW_PACE}x its usual (a shared machine's slow state): unchanged medians move more between "
                       "such files (2-vCPU AMD EPYC VM: 79% within +/-10%, against 98% below a tenth), so "
                       "expect inconclusive rows; re-run on a quieter machine, or time both builds in one file "
                       "(CONVBENCH_BENCH_AGAINST, docs/regression-gates.md)")
    return out


def probe_alone(warnings: list[str]) -> bool:
    """True when one of ``warnings`` is :func:`slow_files`' that the benchmarks' times did not follow the probe."""
    return any(PROBE_ALONE in warning for warning in warnings)


def times_followed(base_samples, new_samples, base_paces: dict, new_paces: dict) -> tuple | None:
    """``(followed, slope, moved, side)``: whether the benchmarks' times followed their paces' moves between the
    sides (the pair's slope at least :data:`NOT_FOLLOWED_SLOPE`), that slope, how many benchmarks' paces moved and
    the side they moved towards ("NEW" where the median move is slower in NEW, else "BASE"); None where fewer than
    ``MIN_FIT_MOVES`` moved or a side has no paces. ``*_paces``: each side's
    :func:`harness.benchpace.round_paces`."""
    common = set(base_paces) & set(new_paces)
    moves = {key: machine_move(statistics.median(base_paces[key]), statistics.median(new_paces[key]))
             for key in common}
    moved = sum(bool(move) for move in moves.values())
    if moved < MIN_FIT_MOVES:
        return None
    slope = pair_slope(base_samples, new_samples, moves)
    towards = "NEW" if statistics.median([move for move in moves.values() if move]) > 0 else "BASE"
    return slope >= NOT_FOLLOWED_SLOPE, slope, moved, towards
