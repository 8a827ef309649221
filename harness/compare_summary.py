"""What a comparison says in words, the same in every view: the verdict, the noise floor, the power, the advice.

Long lists are counted per backend ("32 unavailable: numba-cuda 16, torch 16"), not
spelled out; advice fits the input (a sweep's options or pytest-benchmark's) and
the reasons the points could not be judged. Reads the table and ``attrs`` that
:func:`harness.comparison.compare_tables` / ``compare_data`` write.
"""
from __future__ import annotations

import math
from collections import Counter

from .compare_rule import (IDENTICAL, REASON_BEST, REASON_FEW, REASON_FLOOR, REASON_PASS, REASON_PASSES,
                           REASON_RANGE, REASON_ROUNDS, fmt_ratio, fmt_spread)
from .benchblocks import PROCESS_SHIFT
from .benchsides import MOVED_ATTR, WITHIN_ATTR
from .comparison import INCONCLUSIVE, REGRESSIONS
from .interference import NOTE_CONTENDED, NOTE_INTERFERED, NOTE_MACHINE, NOTE_SLOWED_CORES
from .pacetrust import ACROSS_ATTR

#: Regressions are named in full up to this many, inconclusive points up to MAX_UNJUDGED_NAMES; more are
#: counted per backend.
MAX_NAMES = 12
MAX_UNJUDGED_NAMES = 6


def per_backend(rows) -> str:
    """``"numpy 3, torch 2"``: how many of ``rows`` each backend has, most first."""
    counts = Counter(map(str, rows["backend"]))
    return ", ".join(f"{b} {n}" for b, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def named(rows, limit: int = MAX_NAMES) -> str:
    """The points of ``rows`` by name when at most ``limit``, else counted per backend."""
    if len(rows) <= limit:
        return ", ".join(f"{r.backend} | {r.case}" for r in rows.itertuples())
    return f"per backend: {per_backend(rows)}"


def verdict_line(result) -> tuple[str, str]:
    """``(kind, text)``: kind is "regression", "inconclusive" or "ok"; text the one-line verdict."""
    regressions = result[result["verdict"].isin(REGRESSIONS)]
    unjudged = result[result["verdict"] == INCONCLUSIVE]
    matched = int(result["ratio"].notna().sum())
    if len(regressions):
        return "regression", f"{len(regressions)} regression(s): {named(regressions)}"
    if len(unjudged):
        return "inconclusive", (f"inconclusive: no regression found, but {len(unjudged)} of {matched} matched points "
                                f"could not be judged at a {result.attrs.get('threshold', math.nan):.0%} threshold "
                                f"({named(unjudged, MAX_UNJUDGED_NAMES)})")
    return "ok", f"no regression ({matched} matched points judged)"


def floor_line(result) -> str:
    """The one noise-floor story: each backend's floor (the rows use exactly these) and where it came from."""
    floors = result.attrs.get("noise_floors") or {}
    if not floors:
        return "run-to-run noise floor: no matched timed point"
    parts = [f"{b} {fmt_spread(v['floor'])}" + (f" (rows {fmt_spread(v['lowest'])} to {fmt_spread(v['highest'])})"
                                                 if v["highest"] > v["lowest"] + 0.005 else "") + f": {v['source']}"
             for b, v in floors.items()]
    return (f"run-to-run noise floor (column noise_floor, inside every row's interval at alpha "
            f"{result.attrs.get('alpha', math.nan):g}), median per backend: " + "; ".join(parts))


def pace_line(result) -> str | None:
    """Which backends' passes were judged at a common pace of the machine (:mod:`harness.pace`), and how strongly
    each followed it; None when none were."""
    within = result.attrs.get(WITHIN_ATTR)
    if within is not None:  # several benchmark files a side: harness.filepace
        return within_pace_line(within, result.attrs.get(MOVED_ATTR))
    slopes = result.attrs.get("pace_slopes") or {}
    if not slopes:
        return None
    names = sorted(slopes, key=str)
    if result.attrs.get("kind") == "pytest-benchmark" and files_a_side(result) == 1:  # harness.benchpace
        slope = slopes[names[0]]  # one slope per pair (harness.benchpace.pair_slope)
        return ("the machine's pace (a probe after every round) moved 1.08x or more either way between the files "
                f"for benchmarks of {', '.join(map(str, names))}: divided out of those before judging as far as the "
                f"pair's benchmarks followed it (slope {slope:.2f}; their floors widened to hold every slope from 0 "
                "to 2; each row's note says so)")
    parts = ", ".join(f"{b} {slopes[b]:.2f}" for b in names)
    across = result.attrs.get(ACROSS_ATTR)  # harness.pacetrust: why the move between the runs stayed in
    if across:
        return ("the machine's pace (a probe after every round) divided out of each pass within its own run only, "
                "its move between the runs left in the times (a warning says why); how strongly each backend's "
                f"passes followed it (slope): {parts}")
    return ("the machine's pace (a probe after every round) divided out of each pass before judging (their base and "
            f"new times are at a common pace); how strongly each backend's passes followed it (slope): {parts}")


def within_pace_line(within: dict, moved: int | None) -> str | None:
    """The pace line of several benchmark files a side: divided out within each side, widening floors between
    (``moved`` None: the sides' probes are other loops, their move was not read)."""
    parts = "; ".join(f"{side} " + ", ".join(f"{b} {v:.2f}" for b, v in sorted(slopes.items(), key=str))
                      for side, slopes in within.items() if slopes)
    if not parts and not moved:
        return None
    between = ("its move between the sides not read (their probes are other loops: a warning says so)"
               if moved is None else
               f"{moved} benchmark(s) whose pace moved 1.08x or more between the sides keep their times and have "
               "their floor widened by as much (their notes say so)" if moved else
               "no benchmark's pace moved 1.08x or more between the sides")
    inside = (f"divided out within each side (each file brought to its side's median pace; slopes: {parts})"
              if parts else "not divided out within the sides")
    return f"the machine's pace (a probe after every round) {inside}; {between}"


def files_a_side(result) -> int:
    """How many pytest-benchmark files each side of the comparison holds (1 for single files and sweeps)."""
    files = result.attrs.get("files") or (1, 1)
    return min(files)


def blocks_line(result) -> str | None:
    """For one benchmark file a side: which slowdowns of a whole backend go unseen (:mod:`harness.benchblocks`),
    which backends kept the block rule and why, and how to see more."""
    measured = result["ratio"].notna() & (result["note"] != IDENTICAL)
    if result.attrs.get("kind") != "pytest-benchmark" or files_a_side(result) > 1 or not measured.any():
        return None
    counts = result.loc[result["ratio"].notna(), "backend"].astype(str).value_counts()
    why = "no steady, comparable pace through its block, or too few judged"
    kept = [f"{b} ({'fewer than 4 benchmarks' if n < 4 else why})"
            for b, n in sorted(counts.items()) if b not in (result.attrs.get("backend_moves") or {})]
    return ("one benchmark file a side: each backend's benchmarks ran back to back in one process, so a move of a "
            "whole backend is the code's only where the machine's pace held steady through its block and the move "
            f"clears {fmt_ratio(PROCESS_SHIFT)}x (one process's own shift can be that large; a wider stored A/A floor "
            "raises it), else it counts as noise"
            + (f"; the block rule kept for {', '.join(kept)}" if kept else "") +
            "; to see smaller ones run the suite three times per build and name the files together (BASE "
            "'base-*.json', or a-1.json,a-2.json,a-3.json) to judge each benchmark's median file against the files' "
            "own spread (docs/regression-gates.md)")


def moves_line(result) -> str | None:
    """Each backend's move as a whole (:mod:`harness.backendmove`): its mean ratio, interval and verdict."""
    moves = result.attrs.get("backend_moves") or {}
    if not moves:
        return None
    threshold = result.attrs.get("threshold", 0.0)
    parts = [f"{b} {fmt_ratio(m['ratio'])}x [{fmt_ratio(m['ratio_lo'])}, {fmt_ratio(m['ratio_hi'])}] over "
             f"{m['points']} points: {m['verdict']}" + (f" (a block's move counts beyond {fmt_ratio(m['least_move'])}x)"
                                                       if m.get("least_move", 1.0) > 1 + threshold else "")
             for b, m in moves.items()]
    return (f"backends as a whole (geometric mean ratio NEW/BASE of their points, interval at alpha "
            f"{result.attrs.get('alpha', math.nan):g}; a point that cannot show a change alone is judged with its "
            "backend's move when it lies inside the point's interval): " + "; ".join(parts))


def slowdown(ratio: float) -> str:
    """A slowdown ratio as text: "22%" below 2x, "3.5x" above."""
    return f"{math.ceil((ratio - 1) * 100 - 1e-9)}%" if ratio < 2 else f"{ratio:.3g}x"


def power_line(result) -> str:
    """Per backend, "could detect >= X% on N of M points": X its median point's ``detectable``."""
    judged = result[result["detectable"].notna()]
    if not len(judged):
        return "power: no matched timed point"
    parts = []
    for backend, rows in judged.groupby("backend", sort=True):
        level = float(rows["detectable"].median())
        level = 1 + math.ceil((level - 1) * 100 - 1e-9) / 100 if level < 2 else level
        able = int((rows["detectable"] <= level + 1e-12).sum())
        move = (result.attrs.get("backend_moves") or {}).get(backend)
        whole = f", >= {slowdown(move['detectable'])} of all {move['points']} together" if move else ""
        parts.append(f"{backend} could detect >= {slowdown(level)} on {able} of {len(rows)} points{whole}")
    return "power (column detectable: the smallest slowdown a point could show as 'slower'): " + "; ".join(parts)


def unavailable_line(result) -> str | None:
    """Rows timed in neither run, counted per backend (None when there are none)."""
    rows = result[result["verdict"] == "unavailable"]
    return f"{len(rows)} point(s) timed in neither run, not shown: {per_backend(rows)}" if len(rows) else None


def advice(result) -> list[str]:
    """What would let the inconclusive points be judged, for this kind of input and these reasons."""
    unjudged = result[result["verdict"] == INCONCLUSIVE]
    if not len(unjudged):
        return []
    interfered = [NOTE_INTERFERED in n or NOTE_SLOWED_CORES in n for n in unjudged["note"]]
    notes = [n for n, bad in zip(unjudged["note"], interfered) if not bad]  # theirs: measure again, nothing else
    json_input = result.attrs.get("kind") == "pytest-benchmark"
    tips = []
    if any(REASON_ROUNDS in n or REASON_FEW in n for n in notes):
        tips.append("more rounds per point: pytest --benchmark-min-rounds / --benchmark-max-time" if json_input
                    else "more rounds per point: raise --budget-s or --repeats of the sweeps")
    if any(REASON_FLOOR in n for n in notes):
        tips.append("run-to-run noise: run BASE and NEW on the same quiet machine, back to back" +
                    ("" if json_input else "; `harness calibrate` measures the floor across fresh processes"))
    if any(REASON_BEST in n or REASON_PASS in n for n in notes):
        tips.append("the best round or the fastest pass did not move: interference during one run - re-run it")
    more = "more files per side (each a separate run of the suite)" if json_input else "more passes (--repeats)"
    if any(REASON_PASSES in n for n in notes):
        tips.append(f"a kernel whose speed differs from pass to pass (its passes disagree): {more} narrow its "
                    "interval")
    if any(REASON_RANGE in n for n in notes):
        tips.append(f"the machine changed speed between the passes of a point: {more} or a quieter machine")
    if any(NOTE_MACHINE in n for n in notes):
        tips.append("the machine itself changed speed between the runs (its probe): measure BASE and NEW again, "
                    "back to back")
    if any(interfered):
        contended = any(NOTE_CONTENDED in n for n in unjudged["note"])
        tips.append(f"{sum(interfered)} measured under interference (unsettled, disturbed, slow-handoff or contended): "
                    "measure the run(s) its note names again" +
                    (" - on a shared machine with --threads 1" if contended and not json_input else "") +
                    "; no threshold judges those")
    hi = [max(r.ratio_hi - 1, 1 / r.ratio_lo - 1) for r, bad in zip(unjudged.itertuples(), interfered)
          if r.ratio_lo > 0 and not bad]
    if hi and all(math.isfinite(h) for h in hi) and max(hi) < 10:
        which = "the others" if any(interfered) else "every one of them"
        tips.append(f"--threshold {math.ceil(max(hi) * 100) / 100:.2f} would judge {which}")
    tips.append("--allow-inconclusive exits 0 instead of 3")
    return tips


def summary_lines(result) -> list[str]:
    """Every line under the table, verdict last: floor, power, unavailable rows, warnings' count, advice."""
    lines = [floor_line(result), power_line(result)]
    lines += [line for line in (pace_line(result), moves_line(result), blocks_line(result)) if line]
    lines += [line for line in (unavailable_line(result),) if line]
    lines += [f"to judge the inconclusive points: {'; '.join(advice(result))}"] if advice(result) else []
    return lines
