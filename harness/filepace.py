"""The machine's pace in several pytest-benchmark files a side: divided out within each side, never between them.

Each file of the suite carries the pace read after every round (:mod:`harness.benchpace`); with several files a
side, each file is one pass of each benchmark (:mod:`harness.benchfiles`). Within a side the files are processes
of one build: a file that caught a slow stretch of the machine has its pace and its times slower together, so per
backend the slope of a file's log median on its log pace is fitted over the side's files (:func:`harness.pace.
pace_slope`, the sweep's fit) and every file is brought to the side's median pace of that benchmark
(:func:`paced_within`). Between the sides nothing is divided out: the slope fitted within a side says how a
kernel follows the machine's short slow stretches, not what a probe that ran faster in every file of the other
side (another VM of the same type, another Python, a machine in another phase) says of the kernels - divided out
with that slope, unchanged code exited 1 in 18 of 80 pairs of triples whose NEW files were all 1.3x faster,
and in 38 of 40 where only BASE's probe was slowed. So a benchmark whose median pace moved ``MIN_PACE_MOVE``
(1.08x) or more between the sides keeps its times as measured and has its floor widened by the whole move
(:func:`cross_moves`, :func:`harness.benchpace.pace_widened`), and the median pace of each side is its probe
reading, which holds back verdicts in the direction the whole machine moved (:func:`harness.interference.
machine_demoted`).
"""
from __future__ import annotations

import statistics

from .benchpace import machine_move
from .pace import MIN_SLOPE, pace_slope, plausible, reading, scaled

#: Where a side's samples carry ``{(backend, case): median pace over its files}`` (points whose every file has one).
FILE_PACES_ATTR = "file_paces_s"
#: Where a side's samples carry ``{backend: slope}`` of the backends whose files were brought to a common pace.
WITHIN_SLOPES_ATTR = "within_pace_slopes"


def full_file_paces(paces: dict) -> dict:
    """``{point: [pace of each file]}`` of the points whose every file carries a plausible pace
    (:func:`harness.pace.plausible`: readable, within ``PACE_RANGE`` of the side's median)."""
    return plausible({point: [reading(p) for p in known] for point, known in paces.items()})


def paced_within(passes: dict, known: dict) -> tuple[dict, dict]:
    """``(passes, {backend: slope})``: each point's passes (``{(backend, case): [rounds of each file]}``) with the
    machine's pace divided out within this side - every file's rounds scaled to the point's median pace over the
    side's files with its backend's slope - for every backend all of whose points carry a pace on every file in
    ``known`` (:func:`full_file_paces`) and whose slope comes out at ``MIN_SLOPE`` or more; the others as read."""
    by_backend: dict = {}
    for point in passes:
        by_backend.setdefault(point[0], []).append(point)
    out, slopes = dict(passes), {}
    for backend, points in by_backend.items():
        if not all(point in known for point in points):
            continue
        slope = pace_slope([(passes, known)], points)
        if slope is None or slope < MIN_SLOPE:
            continue
        slopes[backend] = slope
        for point in points:
            out[point] = scaled(passes[point], known[point], statistics.median(known[point]), slope)
    return out, slopes


def side_paces(known: dict) -> dict:
    """``{point: median pace over its files}`` of the points in ``known`` (:func:`full_file_paces`)."""
    return {point: statistics.median(files) for point, files in known.items()}


def cross_moves(base_paces: dict, new_paces: dict) -> dict:
    """``{point: log move}`` of the points whose median pace moved ``MIN_PACE_MOVE`` or more between the sides
    (``*_paces``: :data:`FILE_PACES_ATTR` of each side); their floors are widened by as much, their times kept."""
    moves = {point: machine_move(base_paces[point], new_paces[point]) for point in set(base_paces) & set(new_paces)}
    return {point: move for point, move in moves.items() if move}
