"""Which passes ``harness compare`` judges of a point that other processes contended, or a slow hand-off slowed.

A point's ``others_share`` is the median over its passes (:mod:`harness.contention`); one that reaches a quarter
of its cores is ``contended``, and compare holds back a move towards a run whose point met more contention than
the other's - the timings cannot tell a busy neighbour from slower code. But a neighbour that came and went
during a run leaves some of the point's passes clean, and those can be judged. So, per matched point, a side
whose point was contended and has passes that stayed below ``CONTENDED_SHARE``
(:func:`harness.contention.uncontended`, kept in :data:`harness.passgroups.KEPT_ATTR`) is judged on those passes -
its median pass, pass medians and share become theirs - when the other side's point was not contended, or has
such passes too; where the other side was contended throughout, both are judged on all their passes (contended
against contended: runs made beside the same busy process are judged as usual). Nothing changes for a backend
judged on pooled rounds (a point without a median pass long enough: :func:`harness.comparemerge.matched_samples`).

Measured (2-vCPU Intel VM, docs/measurements/compare-log.md "Other processes during one run"): three A/B
inception3a runs made while the host's other tenants took time, an injected 1.3x of numba-cpu caught on 70% -> 88%
of its rows within the runs and 47% -> 62% across them; a run half made beside a busy loop, 10 -> 15 of 16; no
unchanged pair of any stored set exits 1 that did not before. Judging only passes below 0.15 (so that a kept pass
is always 0.1 below a contended other run) cost power (88% -> 76% within) and bought nothing the rule for a side
contended throughout does not.

The kept passes stand for the point only where contention explains the rest: where the passes left out ran slower
than the kept ones (:func:`slowed_by_contention`). On the AMD EPYC VM (2026-12-04, load ~2.8) an unchanged
inception3a pair exited 1 without it: numba-cpu's 3a 5x5 kept BASE's 102.5 us pass (share 0.21, the others 113 and
141 us) and NEW's 116.8 us pass (share 0.18, the others 98 and 101 us) - a 1.14x "slower" from NEW's slowest pass.

In the two builds of one A/B run a chosen side's kept passes are narrowed to those whose twin pass the other build's
readings do not show slowed by a slow hand-off (:mod:`harness.abpairs`): both ran pass ``i`` back to back, in the
same state.

The same machinery leaves out passes that the cores' slow hand-off slowed (:mod:`harness.handoff`), judged
against one usual reading of both runs (:func:`with_joint_handoff`), and marks a point every pass of which one
run made in that state for the hold-back of :func:`harness.interference.interference_demoted`
(:func:`flag_slow_handoff`).
"""
from __future__ import annotations

import statistics

from .abpairs import paired_choice
from .comparemerge import pass_key
from .contention import is_contended
from .handoff import HANDOFFS_ATTR, SLOW_FLAG, USUAL_ATTR, joint_usual, slow_passes, usual_by_threads
from .passgroups import (ATTR, MEDIAN_PASS_ATTR, PASSES_ATTR, THREADS_ATTR, derive_kept, kept_by_point,
                         pass_medians_by_point)
from .noisefloor import MIN_ROWS
from .pacewait import positive_reading
from .settings import CONTENDED_SHARE

SIDES = (("_base", "BASE"), ("_new", "NEW"))


def judged_passes(merged, base_samples, new_samples, matcher, pooled_out: set | None = None) -> tuple:
    """``(matched, base_samples, new_samples, notes)``: the samples compare judges (copies whose pass attributes
    hold the kept passes of the chosen points), ``matcher(merged, base, new, pooled)``'s matched rounds of them,
    and ``{row index of merged: note}`` for each point judged on kept passes; the chosen sides' ``others_share``
    in ``merged`` becomes the kept passes' where contention chose them, and the ``flags`` of a side slowed by a
    slow hand-off throughout gain ``slow-handoff`` (both set in place). ``matcher`` is
    :func:`harness.comparemerge.matched_samples`, passed in by the caller. ``pooled_out`` receives the backends judged
    on pooled rounds in the end."""
    pooled_out = set() if pooled_out is None else pooled_out
    pooled: set = set()
    base_samples, new_samples = with_joint_handoff(base_samples, new_samples)
    flag_slow_handoff(merged, base_samples, new_samples)
    matched = matcher(merged, base_samples, new_samples, pooled)
    choice = choose(merged, base_samples, new_samples, pooled)
    choice = paired_choice(choice, point_keys(merged, choice), base_samples, new_samples)
    if not choice:
        pooled_out |= pooled
        return matched, base_samples, new_samples, {}
    samples = swapped(base_samples, choice, "_base"), swapped(new_samples, choice, "_new")
    now: set = set()
    matched = matcher(merged, *samples, now)
    if now - pooled:  # a kept median pass too short: that backend goes back to all its passes
        choice = {i: c for i, c in choice.items() if merged.at[i, "backend_base"] not in now}
        samples = swapped(base_samples, choice, "_base"), swapped(new_samples, choice, "_new")
        now = set()
        matched = matcher(merged, *samples, now)
    pooled_out |= now
    notes = {}
    for i, sides in choice.items():
        for side, run in SIDES:
            if side in sides:
                kept = sides[side][1]
                if kept.share is not None:
                    merged.at[i, f"others_share{side}"] = kept.share
                notes[i] = "; ".join(filter(None, [notes.get(i), kept_note(run, kept)]))
    return matched, samples[0], samples[1], notes


def kept_note(run: str, kept) -> str:
    """How a note says which of a side's passes were judged (``kept``: its :class:`harness.passgroups.KeptPasses`)."""
    note = f"{run}: judged on {kept.kept} of {kept.passes} passes"
    contended = kept.passes - kept.kept - kept.slow_handoff - kept.paired
    if contended:
        note += f", those where other processes held under {CONTENDED_SHARE:.0%} of its cores"
    left = [f"{kept.slow_handoff} whose cores handed work to each other slowly (an empty parallel region read slow "
            "around them)"] if kept.slow_handoff else []
    if kept.paired:
        left.append(f"{kept.paired} whose twin pass in the other build a slow hand-off slowed (an A/B run times "
                    "both builds' pass of a point back to back, in the same state)")
    if left:
        note += f"{' and' if contended else ','} leaving out " + " and ".join(left)
    return note


def with_joint_handoff(base_samples, new_samples) -> tuple:
    """Both samples tables judged against one usual hand-off (:func:`harness.handoff.joint_usual`): copies whose
    passes left out for a slow hand-off are re-derived against the faster run's usual reading, so that a run made
    in the slow state throughout has its passes left out too (the tables as given when neither has a reading)."""
    attrs = [getattr(s, "attrs", None) or {} for s in (base_samples, new_samples)]
    joint = joint_usual(*(usual_by_threads(a.get(HANDOFFS_ATTR) or {}, a.get(THREADS_ATTR) or {}) for a in attrs))
    if not joint:
        return base_samples, new_samples
    out = []
    for samples, a in zip((base_samples, new_samples), attrs):
        if PASSES_ATTR in a:
            samples = samples.copy(deep=False)
            samples.attrs = dict(a)
            samples.attrs[USUAL_ATTR] = joint
            derive_kept(samples.attrs, samples.attrs[PASSES_ATTR])  # medians, median passes: as they were
        out.append(samples)
    return tuple(out)


def all_slow(attrs: dict, key) -> bool | None:
    """Whether every pass of point ``key`` ran slowed by a slow hand-off (:func:`harness.handoff.slow_passes`
    against ``attrs["usual_handoff_s"]``); None unless every pass carries a usable reading (a run from before the
    probe, one resumed across it, a damaged file: nothing to tell either way)."""
    readings, medians = (attrs.get(HANDOFFS_ATTR) or {}).get(key), (attrs.get(ATTR) or {}).get(key)
    usual = (attrs.get(USUAL_ATTR) or {}).get((attrs.get(THREADS_ATTR) or {}).get(key))
    if not readings or not medians or len(readings) != len(medians) or usual is None \
            or not all(positive_reading(r) for r in readings):
        return None
    return len(slow_passes(readings, medians, usual)) == len(medians)


def flag_slow_handoff(merged, base_samples, new_samples) -> None:
    """Add :data:`harness.handoff.SLOW_FLAG` to the ``flags`` of a matched point's side every pass of which ran slowed
    by a slow hand-off while the other side's did not (both read): compare holds back a move towards that side as
    interference (:func:`harness.interference.interference_demoted`). Set in place."""
    attrs = {"_base": getattr(base_samples, "attrs", None) or {}, "_new": getattr(new_samples, "attrs", None) or {}}
    if not all(a.get(USUAL_ATTR) for a in attrs.values()):
        return
    for side, _ in SIDES:  # a table without the column (or with none set) gets strings
        merged[f"flags{side}"] = merged[f"flags{side}"].astype(object) if f"flags{side}" in merged else None
    for i, r in merged.iterrows():
        if r.get("_merge") != "both":
            continue
        slow = {side: all_slow(attrs[side], pass_key(r[f"backend{side}"], r[f"case{side}"])) for side, _ in SIDES}
        for side, other in (("_base", "_new"), ("_new", "_base")):
            if slow[side] and slow[other] is False:
                flags = r.get(f"flags{side}")
                merged.loc[i, f"flags{side}"] = ";".join(filter(None, [flags if isinstance(flags, str) else "",
                                                                      SLOW_FLAG]))


def choose(merged, base_samples, new_samples, pooled: set) -> dict:
    """``{row index: {side: (point key, KeptPasses)}}`` of the points whose kept passes are judged, per side. Passes
    left out for a slow hand-off alone are judged so only where the backend has ``MIN_ROWS`` matched points, a floor
    of its own: a lone point (a fused chain of one reduction branch) borrows its floor, and its passes' spread is
    the only sign of its own process-to-process noise (AMD EPYC VM: numba-cpu-fused at 3.4-5.4 us across one run's
    passes, 1.34x its other run's; judged on the rest with numba-cpu's floor, an unchanged pair exited 1)."""
    kept = {"_base": kept_by_point(base_samples), "_new": kept_by_point(new_samples)}
    medians = {"_base": pass_medians_by_point(base_samples), "_new": pass_medians_by_point(new_samples)}
    rows = merged[merged["_merge"] == "both"]["backend_base"].value_counts().to_dict() if "_merge" in merged else {}
    out = {}
    for i, r in merged.iterrows():
        if r.get("_merge") != "both" or r.get("backend_base") in pooled:
            continue
        keys = {side: pass_key(r[f"backend{side}"], r[f"case{side}"]) for side, _ in SIDES}
        sides = {side: (key, kept[side][key]) for side, key in keys.items()
                 if key in kept[side] and slowed_by_contention(kept[side][key], medians[side].get(key, []))
                 and (not kept[side][key].handoff_only or rows.get(r.get("backend_base"), 0) >= MIN_ROWS)}
        if not sides:
            continue
        other = "_new" if "_base" in sides else "_base"
        if len(sides) == 1 and is_contended(r.get(f"others_share{other}")):
            continue  # contended throughout on the other side: contended against contended, as usual
        out[i] = sides
    return out


def point_keys(merged, rows) -> dict:
    """``{row index: {side: point key}}`` of the rows of ``merged`` named in ``rows``."""
    return {i: {side: pass_key(merged.at[i, f"backend{side}"], merged.at[i, f"case{side}"]) for side, _ in SIDES}
            for i in rows}


def slowed_by_contention(kept, medians) -> bool:
    """Whether the passes a point's ``kept`` passes leave out ran slower than the kept ones (their median pass
    medians), as contention would have them: of a point's pass ``medians`` (all of them, the kept ones among them)."""
    rest = list(medians)
    for m in kept.medians_s:
        if m in rest:
            rest.remove(m)
    return not rest or statistics.median(kept.medians_s) <= statistics.median(rest)


def swapped(samples, choice: dict, side: str):
    """A shallow copy of ``samples`` whose pass medians and median passes are the kept passes' for the points of
    ``choice`` chosen on ``side`` (``samples`` itself when there are none)."""
    points = dict(sides[side] for sides in choice.values() if side in sides)
    if not points or samples is None:
        return samples
    copy = samples.copy(deep=False)
    copy.attrs = dict(samples.attrs)
    copy.attrs[ATTR] = {**copy.attrs.get(ATTR, {}), **{k: v.medians_s for k, v in points.items()}}
    copy.attrs[MEDIAN_PASS_ATTR] = {**copy.attrs.get(MEDIAN_PASS_ATTR, {}),
                                    **{k: v.median_pass_s for k, v in points.items()}}
    return copy
