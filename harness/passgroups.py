"""The median of every pass of every point of a run, read back from ``RUN_ID.passes.jsonl``.

A point is timed in several passes spread over the sweep (:mod:`harness.passes`). Rounds within one
pass share its circumstances (a competing process on a core, the clock of the moment), so the passes,
not the rounds, are the independent repetitions of a point within a run. ``harness compare`` asks
whether the *fastest pass* moved with the median (:func:`harness.compare_rule.fastest_pass_followed`),
which tells a slowdown of the code (every pass slower) from interference in some passes of one run -
including passes the row left out, since a pass that ran fast shows what the code could do in that
process.

The passes also decide *which rounds* compare judges: those of the point's **median pass** (the pass whose
median is the middle one; of an even count the middle two together), not the rounds the row pooled. The row
pools its consistent passes, or, when they disagree, its fastest group (interference only slows a kernel) -
but on the quiet 2-vCPU Intel Xeon VM the machine also ran 1.3-1.8x *faster* for seconds to tens of
seconds at a time, and a run whose rows caught such a burst against one that did not was a false alarm:
unchanged default smoke sweeps, all ordered pairs of two sets of four, exit 1 on 7 of 24 pairs with the
pooled rows, 1 of 24 with the median pass, which holds against a minority of passes in any unusual state,
faster or slower (inception3a: 2 of 6 -> 0 of 6; smoke made beside two or more competing processes:
1 of 6 -> 2 of 6); a 1.3x slowdown injected into one backend was caught on 18-53% of its smoke rows with
the median pass, 0-19% with the rows (docs/measurements/compare-log.md).

The medians and the median passes travel with the samples table in ``attrs["pass_medians_s"]`` and
``attrs["median_pass_s"]`` (:func:`with_pass_medians`), so every reader of a run - the CLI, the Python API -
hands them to compare the same way. A run without a passes file (older runs, pytest-benchmark JSON, tables
written by other tools) has none, and compare judges its rows' pooled rounds, without the check.
"""
from __future__ import annotations

import statistics
from pathlib import Path
from typing import NamedTuple

from .contention import known_share, uncontended
from .handoff import HANDOFFS_ATTR, USUAL_ATTR, slow_passes, usual_by_threads
from .results import read_pass_records
from .settings import CONTENDED_SHARE

#: A pass needs this many rounds for its median to count as a repetition of its point.
MIN_PASS_ROUNDS = 3
#: Where :func:`with_pass_medians` puts the medians, and the rounds of each point's median pass, on a samples table.
ATTR = "pass_medians_s"
MEDIAN_PASS_ATTR = "median_pass_s"
#: Where :func:`with_pass_medians` puts the median probe reading of the run's passes (:mod:`harness.probe`).
PROBE_ATTR = "probe_median_s"
#: Where :func:`with_pass_medians` puts every point's passes as read (``{(backend, case): [rounds of each pass]}``),
#: each pass's ``others_share`` and each pass's pace (``pace_s``, :mod:`harness.pace`; None where unknown), from
#: which :func:`derive` sets the attributes above - again, on the passes :mod:`harness.pace` adjusted.
PASSES_ATTR = "passes_s"
SHARES_ATTR = "pass_shares"
PACES_ATTR = "pass_paces_s"
#: Where :func:`with_pass_medians` puts each point's threads (as its passes' records hold them).
THREADS_ATTR = "pass_threads"
#: Where :func:`with_pass_medians` puts each pass's number in its run (the ``pass`` of its record:
#: ``{(backend, case): [number of each pass]}``): an A/B run's two builds ran pass ``i`` of a point back to back
#: (:mod:`harness.abpairs`).
NUMBERS_ATTR = "pass_numbers"
#: (The key's name is older than the hand-off rule; it holds both kinds.)
#: Where :func:`with_pass_medians` puts, for each point with passes left out - for contention where the point was
#: contended (:func:`harness.contention.uncontended`), for a slow hand-off wherever it slowed the pass
#: (:func:`harness.handoff.slow_passes`) - the rest's medians, median pass, count and median share:
#: ``{(backend, case): KeptPasses}``; :mod:`harness.keptpasses` decides whether compare judges them.
KEPT_ATTR = "uncontended_passes"


class KeptPasses(NamedTuple):
    """A point's passes that met little contention and no slow hand-off: their medians (seconds), the rounds of their
    median pass, how many they are of how many, the median ``others_share`` they met (None where none is known) and
    how many passes were left out for a slow hand-off."""
    medians_s: list
    median_pass_s: tuple
    kept: int
    passes: int
    share: float | None
    slow_handoff: int = 0
    #: The kept passes' positions among the point's passes (as :func:`read_passes` lists them).
    indices: tuple = ()
    #: Passes left out because a slow hand-off slowed the other build's pass of the same number
    #: (:mod:`harness.abpairs`).
    paired: int = 0

    @property
    def handoff_only(self) -> bool:
        """True when the point was not contended and passes were left out for the hand-off alone: then no pass's
        share picked the kept ones, and none is given (a contended point's kept passes all carry a known share)."""
        return self.share is None


def read_passes(passes_path: str | Path, probes: list | None = None, shares: dict | None = None,
                paces: dict | None = None, threads: dict | None = None, handoffs: dict | None = None,
                numbers: dict | None = None) -> dict:
    """``{(backend, case): [the rounds (seconds per call) of each timed pass, in file order]}`` ({} when the file
    is absent or unreadable: the passes are an extra, never a reason to refuse a comparison). Passes with fewer
    than ``MIN_PASS_ROUNDS`` rounds and lines that are not a pass record (a torn last line) are skipped.
    ``probes``, when given, receives every pass's probe reading (``probe_s``, seconds) where it has one; ``shares``
    the ``others_share`` of each pass kept, in the same order (None where the record has none), ``paces`` its
    ``pace_s`` likewise, ``handoffs`` its ``handoff_s`` (:mod:`harness.handoff`), ``numbers`` its ``pass`` number,
    and ``threads`` each point's ``threads``."""
    out: dict = {}
    path = Path(passes_path)
    try:
        records = read_pass_records(path) if path.is_file() else []
    except OSError:
        return out
    for _, record in records:
        if record is None or record[2].get("case") is None:
            continue
        key, _, row, samples_s = record
        probe = row.get("probe_s")
        if probes is not None and isinstance(probe, (int, float)) and not isinstance(probe, bool) \
                and 0 < probe < float("inf"):  # a damaged record's true is no 1 s reading
            probes.append(float(probe))
        if len(samples_s) >= MIN_PASS_ROUNDS:
            point = (key[0], str(row["case"]))
            out.setdefault(point, []).append(samples_s)
            if shares is not None:
                shares.setdefault(point, []).append(row.get("others_share"))
            if paces is not None:
                paces.setdefault(point, []).append(row.get("pace_s"))
            if handoffs is not None:
                handoffs.setdefault(point, []).append(row.get("handoff_s"))
            if numbers is not None:
                numbers.setdefault(point, []).append(record[1])
            if threads is not None:
                threads[point] = row.get("threads")
    return out


def kept_passes(passes: dict, medians: dict, shares: dict, handoffs: dict | None = None, threads: dict | None = None,
                usual: dict | None = None) -> dict:
    """``{(backend, case): KeptPasses}`` of the points of ``passes`` that leave passes out and keep some (``medians``:
    each pass's median, as in :data:`ATTR`; ``shares``, ``handoffs``: each pass's share and hand-off reading, from
    :func:`read_passes`; ``usual``: the usual hand-off per thread count, ``threads`` each point's):

    - a contended point keeps its uncontended passes (:func:`harness.contention.uncontended`), less those a slow
      hand-off slowed (:func:`harness.handoff.slow_passes`) where that leaves any; its share becomes theirs;
    - any other point with passes a slow hand-off slowed keeps the rest that met no contention either; its share
      stays the point's (None here: the rule for contention is not its reason).

    A pass read in the slow state that ran no slower than the median of the point's passes read in the usual state
    stays in: the state did not slow it."""
    handoffs, threads, usual = handoffs or {}, threads or {}, usual or {}
    out = {}
    for point, rounds in passes.items():
        point_shares = list(shares.get(point, []))
        point_shares += [None] * (len(rounds) - len(point_shares))
        clean = uncontended(point_shares)
        slow = slowed_passes(handoffs.get(point, []), medians[point], usual.get(threads.get(point)))
        if clean is not None:
            kept = [i for i in clean if i not in slow] or clean
            share = statistics.median(point_shares[i] for i in kept)
        elif slow:
            kept = [i for i in range(len(rounds)) if i not in slow
                    and not (known_share(point_shares[i]) and point_shares[i] >= CONTENDED_SHARE)]
            share = None
        else:
            continue
        if kept:
            left_for_handoff = sum(1 for i in slow if i not in kept and (clean is None or i in clean))
            out[point] = KeptPasses([medians[point][i] for i in kept], median_pass([rounds[i] for i in kept]),
                                    len(kept), len(rounds), share, left_for_handoff, tuple(kept))
    return out


def slowed_passes(readings: list, medians: list, usual: float | None) -> set:
    """The indices of a point's passes that a slow hand-off slowed (:func:`harness.handoff.slow_passes`: ``readings``
    and ``medians`` one per pass, ``usual`` the usual reading at its threads), less those that ran no slower than the
    median of its passes read in the usual state: a slow hand-off explains a slower pass, never a faster one."""
    slow = set(slow_passes(readings, medians, usual)) if len(readings) == len(medians) else set()
    if slow and len(slow) < len(medians):
        bar = statistics.median(medians[i] for i in range(len(medians)) if i not in slow)
        slow = {i for i in slow if medians[i] > bar}
    return slow


def handoff_slowed(attrs: dict, key, usual: dict) -> set:
    """The indices of point ``key``'s passes a slow hand-off slowed (:func:`slowed_passes` against ``usual``, the
    run's :func:`usual_of`), from the attributes :func:`with_pass_medians` sets."""
    readings = (attrs.get(HANDOFFS_ATTR) or {}).get(key) or []
    threads = (attrs.get(THREADS_ATTR) or {}).get(key)
    return slowed_passes(readings, attrs[ATTR][key], usual.get(threads))


def usual_of(attrs: dict) -> dict:
    """The usual hand-off per thread count a run's passes are judged against: ``attrs["usual_handoff_s"]`` where set
    (:func:`harness.keptpasses.with_joint_handoff`), else the run's own (:func:`harness.handoff.usual_by_threads`)."""
    if USUAL_ATTR in attrs:
        return attrs[USUAL_ATTR]
    return usual_by_threads(attrs.get(HANDOFFS_ATTR) or {}, attrs.get(THREADS_ATTR) or {})


def median_pass(passes: list) -> tuple:
    """The rounds of the pass whose median is the middle one of ``passes``; of an even count, the rounds of the
    middle two together (neither the faster nor the slower: with two passes, both)."""
    ordered = sorted(passes, key=statistics.median)
    n = len(ordered)
    return tuple(ordered[n // 2]) if n % 2 else tuple(ordered[n // 2 - 1]) + tuple(ordered[n // 2])


def with_pass_medians(samples, passes_path: str | Path):
    """``samples`` (a samples table) with the run's passes as read in ``attrs["passes_s"]``, ``["pass_shares"]``,
    ``["pass_paces_s"]``, ``["pass_threads"]``, ``["pass_handoffs_s"]`` and ``["pass_numbers"]``, the attributes
    :func:`derive` sets from them, and the median probe reading of its passes in ``attrs["probe_median_s"]`` (set in
    place, returned for chaining; nothing is set when the run has no passes file or the table is None)."""
    if samples is not None:
        probes: list = []
        shares: dict = {}
        paces: dict = {}
        threads: dict = {}
        handoffs: dict = {}
        numbers: dict = {}
        passes = read_passes(passes_path, probes, shares, paces, threads, handoffs, numbers)
        if passes:
            samples.attrs.update({PASSES_ATTR: passes, SHARES_ATTR: shares, PACES_ATTR: paces, THREADS_ATTR: threads,
                                  HANDOFFS_ATTR: handoffs, NUMBERS_ATTR: numbers})
            derive(samples.attrs, passes)
        if probes:
            samples.attrs[PROBE_ATTR] = statistics.median(probes)
    return samples


def derive(attrs: dict, passes: dict) -> None:
    """Set, in ``attrs``, each point's pass medians (``"pass_medians_s"``), the rounds of its median pass
    (``"median_pass_s"``) and the passes compare may judge instead of all (``"uncontended_passes"``,
    :func:`kept_passes`: from the shares in ``attrs["pass_shares"]`` and the hand-off readings in
    ``attrs["pass_handoffs_s"]`` against ``attrs["usual_handoff_s"]``, else the run's own usual), all from
    ``passes`` (``{(backend, case): [rounds of each pass]}``)."""
    medians = {key: [statistics.median(p) for p in ps] for key, ps in passes.items()}
    attrs[ATTR] = medians
    attrs[MEDIAN_PASS_ATTR] = {key: median_pass(ps) for key, ps in passes.items()}
    derive_kept(attrs, passes)


def derive_kept(attrs: dict, passes: dict) -> None:
    """Set ``attrs["uncontended_passes"]`` (:func:`kept_passes`) from ``passes`` and the pass medians, shares,
    hand-off readings and threads already in ``attrs``, against ``attrs["usual_handoff_s"]`` where set, else the
    run's own usual reading: :func:`derive`'s last step, alone for a new usual reading."""
    attrs[KEPT_ATTR] = kept_passes(passes, attrs[ATTR], attrs.get(SHARES_ATTR) or {}, attrs.get(HANDOFFS_ATTR) or {},
                                   attrs.get(THREADS_ATTR) or {}, usual_of(attrs))


def machine_ratio(base_samples, new_samples) -> float:
    """NEW's median probe reading over BASE's (:data:`PROBE_ATTR`; NaN where either run has none): how much slower
    (> 1) or faster the machine itself ran during NEW, by the same fixed pure-Python loop."""
    readings = [(getattr(s, "attrs", None) or {}).get(PROBE_ATTR) for s in (base_samples, new_samples)]
    if not all(isinstance(r, (int, float)) and r > 0 for r in readings):
        return float("nan")
    return readings[1] / readings[0]


def by_point(samples, attr: str) -> dict:
    """The ``{(backend, case): ...}`` attribute ``attr`` (:data:`ATTR`, :data:`MEDIAN_PASS_ATTR`, :data:`KEPT_ATTR`)
    carried by a samples table ({} when none)."""
    value = (getattr(samples, "attrs", None) or {}).get(attr)
    return value if isinstance(value, dict) else {}


def pass_medians_by_point(samples) -> dict:
    """``{(backend, case): [median seconds of each pass]}`` carried by a samples table ({} when none)."""
    return by_point(samples, ATTR)


def kept_by_point(samples) -> dict:
    """``{(backend, case): KeptPasses}`` of the points that leave passes out (:func:`kept_passes`: contended ones, ones
    a slow hand-off slowed), carried by a samples table ({} when none)."""
    return by_point(samples, KEPT_ATTR)


def median_pass_by_point(samples) -> dict:
    """``{(backend, case): rounds of its median pass}`` carried by a samples table ({} when none)."""
    return by_point(samples, MEDIAN_PASS_ATTR)
