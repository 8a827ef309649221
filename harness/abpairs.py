"""The two builds of one A/B run judged on the same passes: a pass left out of one build is left out of both.

An A/B run (``sweep --against``) times each point's pass ``i`` of the base build and of this build back to back,
so both meet the same machine - the same hand-off state of the cores, the same neighbour. Each build's passes are
left out on their own readings (:func:`harness.passgroups.kept_passes`), and a reading near the threshold falls on
either side of it: on the AMD EPYC Zen 2 VM (2026-12-05, A/B smoke run ab3) the hand-off read 3.3-3.7 us in four of
five passes and 1.7-1.9 us in one, the usual reading (2.25 us) put the threshold at 3.38 us, and numba-cpu's 1x1 was
judged on passes 1 and 2 of the base build (4.46 and 2.35 us: one of each state) against pass 2 alone of this one
(2.33 us) - a 0.53x from the state, and a floor of x/ 2.8 from such rows, under which an injected 1.6x went unseen.

So where both sides of a comparison are the two builds of one A/B run (:data:`harness.abhalves.AB_RUN_ATTR`), a
build whose own rules chose passes for a point (:func:`harness.keptpasses.choose`) is judged on those of them whose
twin pass the other build's readings show slowed by a slow hand-off (:func:`harness.passgroups.handoff_slowed`)
left out as well: the state lasts seconds, and the twin ran in it. Contention is not paired: another process's
burst lasts milliseconds, and a neighbour in one build's pass says little of its twin's (a third review: an
unchanged point cut to one noisy pass by the other build's contended, unslowed twin was `slower`, exit 1). Pairing
only narrows a choice already made: a build that left nothing out is never cut down to the other build's passes
(its passes' spread is part of its noise: a first version that cut it judged unchanged points on one noisy pass,
and a lone point without its hand-off passes, both `slower`), a pass without a twin stays (the sweep's extra
passes for an unsettled point run in one build only), and where nothing would be left, or the median pass would be
shorter than :data:`harness.compare_rule.MIN_ROUNDS`, the build keeps its own choice. A run resumed between a
point's two builds of one pass has that pair made in two sessions; the rule takes it as a pair all the same.
"""
from __future__ import annotations

import statistics

from .abhalves import AB_RUN_ATTR
from .compare_rule import MIN_ROUNDS
from .contention import known_share
from .passgroups import (ATTR, NUMBERS_ATTR, PASSES_ATTR, SHARES_ATTR, KeptPasses, handoff_slowed, median_pass,
                         usual_of)

SIDES = ("_base", "_new")


def one_ab_run(base_samples, new_samples) -> bool:
    """Whether ``base_samples`` and ``new_samples`` are the two builds of one A/B run (the same run, one half each)."""
    tokens = [(getattr(s, "attrs", None) or {}).get(AB_RUN_ATTR) for s in (base_samples, new_samples)]
    if not all(isinstance(t, tuple) and len(t) == 3 for t in tokens):
        return False
    return tokens[0][:2] == tokens[1][:2] and tokens[0][2] != tokens[1][2]


def paired_choice(choice: dict, keys: dict, base_samples, new_samples) -> dict:
    """``choice`` (``{row index: {side: (point key, KeptPasses)}}``, :func:`harness.keptpasses.choose`) with each
    chosen side's kept passes narrowed to those whose twin pass the other build's readings do not show slowed by a
    slow hand-off (:func:`narrowed`; ``keys``: ``{row index: {side: point key}}`` of the rows of ``choice``).
    ``choice`` as given unless the samples are the two builds of one A/B run (:func:`one_ab_run`) and carry pass
    numbers."""
    if not one_ab_run(base_samples, new_samples):
        return choice
    attrs = dict(zip(SIDES, (base_samples.attrs, new_samples.attrs)))
    if not all(a.get(NUMBERS_ATTR) and a.get(ATTR) for a in attrs.values()):
        return choice
    usual = {side: usual_of(a) for side, a in attrs.items()}
    out = {}
    for i, sides in choice.items():
        point = keys[i]
        numbers = {side: attrs[side][NUMBERS_ATTR].get(point[side]) for side in SIDES}
        if not all(numbers.values()) or not all(point[side] in attrs[side][ATTR] for side in SIDES):
            out[i] = sides
            continue
        out[i] = {}
        for side, (key, kept) in sides.items():
            other = SIDES[1 - SIDES.index(side)]
            marked = marked_numbers(numbers[other], handoff_slowed(attrs[other], point[other], usual[other]))
            out[i][side] = (key, narrowed(attrs[side], key, numbers[side], marked, kept))
    return out


def marked_numbers(numbers: list, slowed: set) -> set:
    """The pass numbers (``numbers``: the number of each pass of a point) of the passes at indices ``slowed``."""
    return {numbers[j] for j in slowed if j < len(numbers)}


def narrowed(attrs: dict, key, numbers: list, marked: set, kept: KeptPasses) -> KeptPasses:
    """``kept`` (one build's kept passes of point ``key``) less the passes whose number the other build's readings
    show slowed by a slow hand-off (``marked``; ``numbers``: the number of each of its passes), counted as
    ``paired``; ``kept`` itself where that leaves it whole or empty, or leaves a median pass shorter than
    ``MIN_ROUNDS``. A share chosen by contention becomes the median of the judged passes' known shares."""
    indices = [j for j in kept.indices if numbers[j] not in marked]
    if not indices or len(indices) == len(kept.indices):
        return kept
    rounds = median_pass([attrs[PASSES_ATTR][key][j] for j in indices])
    if len(rounds) < MIN_ROUNDS:
        return kept
    share = kept.share
    if share is not None:
        point_shares = (attrs.get(SHARES_ATTR) or {}).get(key) or []
        known = [point_shares[j] for j in indices if j < len(point_shares) and known_share(point_shares[j])]
        share = statistics.median(known) if known else share
    return kept._replace(medians_s=[attrs[ATTR][key][j] for j in indices], median_pass_s=rounds, kept=len(indices),
                         share=share, indices=tuple(indices), paired=kept.paired + len(kept.indices) - len(indices))
