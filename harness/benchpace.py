"""The machine's pace divided out of pytest-benchmark files before two of them are compared.

The benchmark suite (``tests/bench``) times a short fixed probe (:func:`harness.probe.pace_s`, on the benchmark's
own clock) after every timed round, outside the timed region, and keeps the readings in ``extra_info["paces_s"]``,
one per entry of ``stats.data``; :mod:`harness.benchjson` carries them into the samples table as the column
``pace_s``. pytest-benchmark times a backend's benchmarks back to back, so a slow stretch of a shared VM (1.3-1.7x
for seconds at a time on the 2-vCPU Intel Xeon VM) moves all of them together - the same move as a change of that
backend's code. The probe runs the same interpreter loop in both files: where it ran 1.5x slower, the machine most
likely did, not the code (a change of the code that slowed the probe too - a kernel leaving its core downclocked -
would be divided out as well; see the floor below).

Unlike a sweep (:mod:`harness.pace`), a file holds one pass per benchmark, so no slope can be fitted within a run.
Per benchmark, the move of its median pace from BASE to NEW is divided out when it is ``MIN_PACE_MOVE`` (1.08x
either way) or more, half from each file (both then stand at the geometric middle of the two paces), and not at all
when smaller: the probe has a few percent of process-to-process noise of its own that the kernels do not follow.
It is divided out as far as the pair's benchmarks followed their paces (:func:`pair_slope`, 0-1; in full, slope
1: time in units of the probe, with fewer than three moved benchmarks). A benchmark whose pace was divided out is
judged with its floor widened by ``max(1, 2 - s)`` times the move (``PACE_SLOPE_SPREAD``; ``s`` the pair's slope):
every slope from 0 (the times as measured) to 2 lies inside its interval, as with the move divided out in full, so
dividing the pace out never makes a verdict that its measured times do not support, it only holds back one that the
machine's move explains (on the Intel VM single benchmarks followed with slopes up to 1.7).
The rounds keep their shape (a probe that a timer interrupt slowed moves no round of its own).
Measured on the 2-vCPU Intel Xeon VM, 50 back-to-back files of
the suite (25 pairs, 425 benchmark pairs): medians within +/-10% 89% as measured -> 95%, unchanged pairs exiting 1:
4 -> 0; one benchmark slowed 1.3x caught on 68% -> 74%, 1.6x 74% -> 88% (docs/regression-gates.md).

A backend is adjusted only when every benchmark it has in both files carries a readable pace on every round, none
more than ``harness.pace.PACE_RANGE`` times from its file's median pace (a damaged file); else its rows are judged
as measured. Files without paces (other suites, earlier files, GPU benchmarks, runs of several threads) are
judged as measured.
"""
from __future__ import annotations

import math
import statistics

from .pace import plausible, reading

#: The samples column holding the pace read after each round (NaN where the benchmark recorded none).
PACE_COLUMN = "pace_s"
#: How strongly a benchmark's time is taken to follow its pace where the pair cannot say (see the module docstring).
BENCH_SLOPE = 1.0
#: With at least this many benchmarks whose pace moved, the pair says how far their times followed (:func:`pair_slope`).
MIN_FIT_MOVES = 3
#: A benchmark whose median pace moved less than this between the files (a log ratio: 1.08x either way) is left
#: as measured: the probe has a process-to-process spread of its own that the kernels do not follow (on a quiet
#: Intel VM 90% of benchmarks' pace moves lay within 4.4%, some whole blocks moved 4-7% with their times
#: unchanged), while larger moves were the machine's (times followed with a slope of ~1.25, correlation
#: 0.85-0.97). Small moves divided out too spread a backend's benchmarks around 1 and so widened its floor
#: (over 20 pairs, thresholds of 5, 8 and 10%: one benchmark's 1.3x caught on 79, 82 and 81%; none: 54% of 15).
MIN_PACE_MOVE = math.log(1.08)
#: How far a benchmark's time may follow a move of its pace otherwise than in full, as a fraction of that move:
#: a benchmark whose pace moved by ``m`` (log) is judged with its floor widened by ``PACE_SLOPE_SPREAD * |m|``
#: (:func:`pace_widened`). At 1 its interval holds every slope from 0 (the time did not follow the pace at all:
#: the ratio as measured) to 2, so dividing a pace out never makes a verdict the measured times do not support
#: on their own - a probe slowed alone, or a pace edited into a file, cannot raise an alarm or hide a slowdown
#: behind a `faster` - it only keeps a machine's slow stretch from being called a regression. Times followed
#: moves of 1.08x or more with slopes of 0.67-1.7 by benchmark on the Intel VM; over 25 pairs the widening cost
#: 1 point of detection (one benchmark's 1.3x caught on 74%, 75% at 0.5).
PACE_SLOPE_SPREAD = 1.0
#: Where :func:`bench_paced` leaves ``{(backend, case): log move divided out}`` on the samples it returns.
MOVES_ATTR = "pace_moves"
#: Where :func:`bench_paced` leaves the slope it divided the moves out with (:func:`pair_slope`), for the notes.
SLOPE_ATTR = "pace_pair_slope"
#: Where :func:`bench_paced` leaves ``{(backend, case): log move of its median pace}`` of every benchmark it could
#: adjust (its backend's benchmarks all carry a pace in both files), moves under ``MIN_PACE_MOVE`` included.
READ_ATTR = "pace_read_moves"
#: False on NEW's samples where the moves in :data:`MOVES_ATTR` were left in the times (:mod:`harness.filepace`).
DIVIDED_ATTR = "pace_moves_divided"


def machine_move(base_pace_s: float, new_pace_s: float) -> float:
    """The log of how much slower the machine ran for one benchmark in NEW than in BASE, as its median paces say:
    in full (``BENCH_SLOPE``) where they moved by ``MIN_PACE_MOVE`` or more, else 0 (the probe's own noise)."""
    move = math.log(new_pace_s / base_pace_s) * BENCH_SLOPE
    return move if abs(move) >= MIN_PACE_MOVE else 0.0


def pair_slope(base_samples, new_samples, moves: dict) -> float:
    """How far the benchmarks' times followed their paces' moves between the two files (0-1): the median, over the
    benchmarks whose pace moved (``moves``: ``{(backend, case): log move}``, 0 where it did not), of the log move of
    their median time over the log move of their pace; ``BENCH_SLOPE`` with fewer than ``MIN_FIT_MOVES`` of them.
    The median holds against one benchmark that really changed. On the Intel VM the times followed in full (slopes
    0.67-1.7 by benchmark); on the 2-vCPU AMD EPYC VM of 2026-12-04 the probe's loop ran 1.5-1.6x slower in some
    files while the kernels ran 1.0-1.3x slower (slopes 0.06-0.56, median 0.27-0.45 per pair), and dividing the
    move out in full left numpy's and torch's unchanged benchmarks at 0.71-0.82x."""
    moved = [key for key, move in moves.items() if move]
    if len(moved) < MIN_FIT_MOVES:
        return BENCH_SLOPE
    medians = [s.groupby(["backend", "case"], sort=False)["time_s"].median() for s in (base_samples, new_samples)]
    follows = [math.log(medians[1][key] / medians[0][key]) / moves[key] for key in moved]
    return min(BENCH_SLOPE, max(0.0, statistics.median(follows)))


def round_paces(samples) -> dict:
    """``{(backend, case): [pace after each round]}`` of the benchmarks of a samples table whose every round
    carries a readable pace within ``harness.pace.PACE_RANGE`` times the file's median pace either way ({} without
    the column)."""
    if PACE_COLUMN not in getattr(samples, "columns", ()):
        return {}
    return plausible({key: [reading(p) for p in group[PACE_COLUMN]]
                      for key, group in samples.groupby(["backend", "case"], sort=False)})


def bench_paced(base_samples, new_samples) -> tuple:
    """``(base samples, new samples, {backend: slope})``: both files' rounds with the machine's pace divided out
    of each benchmark for every backend that can be adjusted (module docstring), the slope given for the backends
    of which some benchmark's pace moved enough to be; the tables come back unchanged (the same objects) when no
    backend can be adjusted."""
    paces = [round_paces(base_samples), round_paces(new_samples)]
    if not (paces[0] and paces[1]):
        return base_samples, new_samples, {}
    keys = [set(zip(s["backend"], s["case"])) for s in (base_samples, new_samples)]
    both = keys[0] & keys[1]
    lacking = {key[0] for key in both if key not in paces[0] or key not in paces[1]}
    adjusted = {key for key in both if key[0] not in lacking}
    if not adjusted:
        return base_samples, new_samples, {}
    out = []
    medians = {key: (statistics.median(paces[0][key]), statistics.median(paces[1][key])) for key in adjusted}
    read = {key: math.log(new / base) for key, (base, new) in medians.items()}
    moves = {key: machine_move(*pair) for key, pair in medians.items()}
    slope = pair_slope(base_samples, new_samples, moves)
    for side, samples in enumerate((base_samples, new_samples)):
        factors = {key: math.exp((0.5 if side == 0 else -0.5) * slope * move) for key, move in moves.items()}
        scaled = samples.copy()
        scaled.attrs = dict(samples.attrs)
        scaled.attrs[MOVES_ATTR] = {key: move for key, move in moves.items() if move}
        scaled.attrs[SLOPE_ATTR] = slope
        scaled.attrs[READ_ATTR] = read
        factor = [factors.get(key, 1.0) for key in zip(samples["backend"], samples["case"])]
        scaled["time_s"] = samples["time_s"].to_numpy(dtype=float) * factor
        out.append(scaled)
    moved = {key[0] for key, move in moves.items() if move}
    return out[0], out[1], {backend: slope for backend in sorted(moved, key=str)}


def pace_widened(floors: dict, keys: dict, attrs: dict) -> tuple[dict, dict]:
    """``(floors, notes)``: ``floors`` (``{row: (half-width, source)}``, log half-widths) with the floor of each row
    whose benchmark's pace moved (``attrs[MOVES_ATTR]`` by ``keys[row]``: NEW's samples' attributes) widened by
    ``PACE_SLOPE_SPREAD`` times that move, times ``max(1, 2 - s)`` around a move divided out with the pair's slope
    ``s`` (``attrs[SLOPE_ATTR]``) - how far this benchmark's time followed the machine is not known: every slope from
    0 to 2 stays inside - and ``{row: note}`` saying so; the move was divided out unless ``attrs[DIVIDED_ATTR]`` is
    False (several files a side, :mod:`harness.filepace`: kept as measured). On the Intel VM a torch 3x3 ran 1.81x
    slower in one of two unchanged files while its pace moved 1.42x: 1.27x left over, a false alarm (exit 1)
    without the widening."""
    moves = attrs.get(MOVES_ATTR) or {}
    if not moves:
        return floors, {}
    divided, slope = attrs.get(DIVIDED_ATTR, True), attrs.get(SLOPE_ATTR, BENCH_SLOPE)
    how = (f"divided out as far as the pair's benchmarks followed it (slope {slope:.2f})" if divided else
           "not divided out (times as measured)")
    spread = PACE_SLOPE_SPREAD * (max(1.0, 2.0 - slope) if divided else 1.0)
    out, notes = {}, {}
    for row, (half, source) in floors.items():
        move = moves.get(keys.get(row))
        if move:
            half = half + spread * abs(move)
            source = f"{source}; the machine's pace moved {math.exp(move):.2f}x"
            notes[row] = (f"the machine's pace moved {math.exp(move):.2f}x between the files: {how}, floor widened "
                          "to hold every slope from 0 to 2")
        out[row] = (half, source)
    return out, notes
