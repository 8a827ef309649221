"""The two builds of one A/B run judged on the same passes: a pass left out of one build is left out of both.

An A/B run (``sweep --against``) times each point's pass ``i`` of the base build and of this build back to back,
so both meet the same machine - the same hand-off state of the cores, the same neighbour. Each build's passes are
left out on their own readings (:func:`harness.passgroups.kept_passes`), and a reading near the threshold falls on
either side of it: on the AMD EPYC Zen 2 VM (2026-12-05, A/B smoke run ab3) the hand-off read 3.3-3.7 us in four of
five passes and 1.7-1.9 us in one, the usual reading (2.25 us) put the threshold at 3.38 us, and numba-cpu's 1x1 was
judged on passes 1 and 2 of the base build (4.46 and 2.35 us: one of each state) against pass 2 alone of this one
(2.33 us) - a 0.53x from the state, and a floor of x/ 2.8 from such rows, under which an injected 1.6x went unseen.

So where both sides of a comparison are the two builds of one A/B run (:data:`harness.abhalves.AB_RUN_ATTR`), each
point is judged on the pass numbers both builds kept (:func:`paired_choice`); where they kept none in common, both
are judged on all their passes, as a point that left nothing out.
"""
from __future__ import annotations

import statistics

from .abhalves import AB_RUN_ATTR
from .passgroups import ATTR, NUMBERS_ATTR, PASSES_ATTR, SHARES_ATTR, KeptPasses, median_pass


def one_ab_run(base_samples, new_samples) -> bool:
    """Whether ``base_samples`` and ``new_samples`` are the two builds of one A/B run (the same run, one half each)."""
    tokens = [(getattr(s, "attrs", None) or {}).get(AB_RUN_ATTR) for s in (base_samples, new_samples)]
    if not all(isinstance(t, tuple) and len(t) == 3 for t in tokens):
        return False
    return tokens[0][:2] == tokens[1][:2] and tokens[0][2] != tokens[1][2]


def paired_choice(choice: dict, keys: dict, base_samples, new_samples) -> dict:
    """``choice`` (``{row index: {side: (point key, KeptPasses)}}``, :func:`harness.keptpasses.choose`) with each
    row's sides kept to the pass numbers both builds kept (``keys``: ``{row index: {side: point key}}``): a side
    whose passes all stay is judged on all of them (no entry), a row whose builds kept no number in common leaves
    ``choice``. ``choice`` as given unless the samples are the two builds of one A/B run (:func:`one_ab_run`) and
    carry pass numbers."""
    attrs = {"_base": base_samples.attrs, "_new": new_samples.attrs} if one_ab_run(base_samples, new_samples) \
        else {}
    if not attrs or not all(a.get(NUMBERS_ATTR) for a in attrs.values()):
        return choice
    out = {}
    for i, sides in choice.items():
        numbers = {side: attrs[side][NUMBERS_ATTR].get(keys[i][side]) for side in attrs}
        if not all(numbers.values()):
            out[i] = sides
            continue
        kept_numbers = {side: {numbers[side][j] for j in sides[side][1].indices} if side in sides
                        else set(numbers[side]) for side in attrs}
        joint = kept_numbers["_base"] & kept_numbers["_new"]
        if not joint:
            continue
        paired = {}
        for side, a in attrs.items():
            kept = restricted(a, keys[i][side], numbers[side], joint, sides[side][1] if side in sides else None)
            if kept is not None:
                paired[side] = (keys[i][side], kept)
        if paired:
            out[i] = paired
    return out


def restricted(attrs: dict, key, numbers: list, joint: set, kept: KeptPasses | None) -> KeptPasses | None:
    """The :class:`KeptPasses` of point ``key`` of one build judged on the passes numbered in ``joint`` (``numbers``:
    the number of each of its passes; ``kept``: what its own readings kept, None for all); None where that is all of
    its passes."""
    own = kept.indices if kept is not None else range(len(numbers))
    indices = [j for j in own if numbers[j] in joint]
    if len(indices) == len(numbers):
        return None
    if kept is not None and tuple(indices) == tuple(kept.indices):
        return kept
    rounds, medians = attrs[PASSES_ATTR][key], attrs[ATTR][key]
    shares = (attrs.get(SHARES_ATTR) or {}).get(key) or []
    share = None
    if kept is not None and kept.share is not None:  # contention chose them: their share, as the rule gives it
        known = [shares[j] for j in indices if j < len(shares) and isinstance(shares[j], (int, float))]
        share = statistics.median(known) if known else kept.share
    return KeptPasses([medians[j] for j in indices], median_pass([rounds[j] for j in indices]),
                      len(indices), len(numbers), share, kept.slow_handoff if kept is not None else 0,
                      tuple(indices), len([j for j in own if j not in indices]))
