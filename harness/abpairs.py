"""The two builds of one A/B run judged on the same passes: a pass left out of one build is left out of both.

An A/B run (``sweep --against``) times each point's pass ``i`` of the base build and of this build back to back,
so both meet the same machine - the same hand-off state of the cores, the same neighbour. Each build's passes are
left out on their own readings (:func:`harness.passgroups.kept_passes`), and a reading near the threshold falls on
either side of it: on the AMD EPYC Zen 2 VM (2026-12-05, A/B smoke run ab3) the hand-off read 3.3-3.7 us in four of
five passes and 1.7-1.9 us in one, the usual reading (2.25 us) put the threshold at 3.38 us, and numba-cpu's 1x1 was
judged on passes 1 and 2 of the base build (4.46 and 2.35 us: one of each state) against pass 2 alone of this one
(2.33 us) - a 0.53x from the state, and a floor of x/ 2.8 from such rows, under which an injected 1.6x went unseen.

So where both sides of a comparison are the two builds of one A/B run (:data:`harness.abhalves.AB_RUN_ATTR`), each
point is judged on the pass numbers that both builds timed and neither build's own readings mark - contended
(the pass's own share), or slowed by a slow hand-off (:func:`harness.passgroups.unclean_passes`; each pass on its
own, so that one build is never cut down to passes the other build's rule chose and its own rule would leave out).
Where no such pass is left, the point is judged as the builds' own rules have it (:func:`harness.keptpasses.choose`).
A run resumed between a point's two builds of one pass has that pair made in two sessions; the rule takes it as a
pair all the same.
"""
from __future__ import annotations

import statistics

from .abhalves import AB_RUN_ATTR
from .contention import known_share
from .handoff import HANDOFFS_ATTR, USUAL_ATTR, usual_by_threads
from .passgroups import (ATTR, NUMBERS_ATTR, PASSES_ATTR, SHARES_ATTR, THREADS_ATTR, KeptPasses, median_pass,
                         unclean_passes)

SIDES = ("_base", "_new")


def one_ab_run(base_samples, new_samples) -> bool:
    """Whether ``base_samples`` and ``new_samples`` are the two builds of one A/B run (the same run, one half each)."""
    tokens = [(getattr(s, "attrs", None) or {}).get(AB_RUN_ATTR) for s in (base_samples, new_samples)]
    if not all(isinstance(t, tuple) and len(t) == 3 for t in tokens):
        return False
    return tokens[0][:2] == tokens[1][:2] and tokens[0][2] != tokens[1][2]


def paired_choice(choice: dict, keys: dict, base_samples, new_samples) -> dict:
    """``choice`` (``{row index: {side: (point key, KeptPasses)}}``, :func:`harness.keptpasses.choose`) with the rows
    of ``keys`` (``{row index: {side: point key}}``: every matched point open to a choice) judged on the passes of
    :func:`joint_numbers` where it leaves any: a side that keeps all its passes gets no entry; a row without such
    passes keeps its entry of ``choice``. ``choice`` as given unless the samples are the two builds of one A/B run
    (:func:`one_ab_run`) and carry pass numbers."""
    if not one_ab_run(base_samples, new_samples):
        return choice
    attrs = dict(zip(SIDES, (base_samples.attrs, new_samples.attrs)))
    if not all(a.get(NUMBERS_ATTR) and a.get(ATTR) for a in attrs.values()):
        return choice
    usual = {side: a[USUAL_ATTR] if USUAL_ATTR in a else
             usual_by_threads(a.get(HANDOFFS_ATTR) or {}, a.get(THREADS_ATTR) or {}) for side, a in attrs.items()}
    out = {i: sides for i, sides in choice.items() if i not in keys}
    for i, point in keys.items():
        numbers = {side: attrs[side][NUMBERS_ATTR].get(point[side]) for side in SIDES}
        if not all(numbers.values()) or not all(point[side] in attrs[side][ATTR] for side in SIDES):
            if i in choice:
                out[i] = choice[i]
            continue
        unclean = {side: unclean_passes(attrs[side], point[side], usual[side]) for side in SIDES}
        joint = joint_numbers(numbers, unclean)
        if not joint:
            if i in choice:
                out[i] = choice[i]
            continue
        paired = {side: (point[side], restricted(attrs[side], point[side], numbers[side], joint, *unclean[side]))
                  for side in SIDES}
        paired = {side: entry for side, entry in paired.items() if entry[1] is not None}
        if paired:
            out[i] = paired
    return out


def joint_numbers(numbers: dict, unclean: dict) -> set:
    """The pass numbers of a point that both builds timed (``numbers``: ``{side: [number of each pass]}``) and that
    neither build's readings mark (``unclean``: ``{side: (contended indices, slowed indices)}``)."""
    common = set(numbers["_base"]) & set(numbers["_new"])
    marked = {numbers[side][j] for side in SIDES for j in unclean[side][0] | unclean[side][1]}
    return common - marked


def restricted(attrs: dict, key, numbers: list, joint: set, contended: set, slowed: set) -> KeptPasses | None:
    """The :class:`KeptPasses` of point ``key`` of one build judged on its passes numbered in ``joint`` (``numbers``:
    the number of each of its passes; ``contended``, ``slowed``: the indices its own readings mark); None where that
    is all of its passes. A pass left out counts for a slow hand-off where it was slowed, else for contention where it
    was contended, else as paired (the other build left its twin out, or did not time it). Its share is the median of
    the judged passes' known shares (None where none is known)."""
    indices = [j for j, number in enumerate(numbers) if number in joint]
    if len(indices) == len(numbers):
        return None
    left = set(range(len(numbers))) - set(indices)
    shares = [s for j, s in enumerate((attrs.get(SHARES_ATTR) or {}).get(key) or []) if j in indices and known_share(s)]
    rounds, medians = attrs[PASSES_ATTR][key], attrs[ATTR][key]
    return KeptPasses([medians[j] for j in indices], median_pass([rounds[j] for j in indices]), len(indices),
                      len(numbers), statistics.median(shares) if shares else None, len(left & slowed),
                      tuple(indices), len(left - slowed - contended))
