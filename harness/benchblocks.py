"""One pytest-benchmark file a side: when a backend's block of benchmarks may move as a whole in ``harness compare``.

pytest-benchmark times a backend's benchmarks one after another, so a slow minute of a shared VM moves all of
them together, exactly as a change of that backend's code would; with no pace known, a backend's common shift
between two files is therefore counted as run-to-run noise (:func:`harness.noisefloor.row_floors`,
``back_to_back``), and a slowdown of a whole backend - the commonest real regression: a compiler flag, a runtime
upgrade, a layout change - is never seen, whatever its size (the AMD EPYC Zen 2 VM, six pairs of unchanged files:
a whole backend slowed 1.6x `slower` on 0 of 90 rows).

The suite reads the machine's pace after every timed round (:class:`tests.bench.steady.PaceLog`). A slow stretch
that moves a block moves the probe too: on the Intel VM its moves of 1.08x or more were the machine's, the times
followed them with a slope of ~1.25 (:mod:`harness.benchpace`). So a backend whose every benchmark carries a pace in
both files and none of whose paces moved by ``harness.benchpace.MIN_PACE_MOVE`` (1.08x) or more ran on a machine
that kept its speed: its block is judged as a sweep's points are - each against its other rows' spread around
their own mean, and the block's common move as the backend's (:mod:`harness.backendmove`), with each benchmark's
best round as its fastest pass (a code change slows every round; a burst slows some and leaves the best). A
backend whose pace moved for any of its benchmarks, or that has no pace (other suites, several threads, GPU, a
probe of other work), keeps the block rule.

Measured on the AMD EPYC Zen 2 VM (AVX2, 2 vCPU), 12 quiet files and 6 beside a process streaming memory on the
other vCPU, every pair: the widest common shift of a backend's block was 1.07x (numpy), where the backend's move
needs its whole interval beyond 1.10 (docs/regression-gates.md, "One file a side: a whole backend").
"""
from __future__ import annotations

import math
import statistics
from dataclasses import replace

from .backendmove import backend_moves
from .benchpace import MIN_PACE_MOVE, READ_ATTR

#: The least common shift of a steady block that counts as its code's: on the Intel Xeon VM one file's torch
#: benchmarks ran 1.15-1.20x slower, another's 1.23-1.24x, their paces unchanged (2 of 50 unchanged files: a
#: per-process effect of that runtime); on the Zen 2 VM the widest such shift was 1.10x in 153 pairs.
PROCESS_SHIFT = 1.25


def steady_blocks(attrs: dict) -> set:
    """The backends of a one-file-a-side comparison whose paces were read on every round of both files and whose
    benchmarks' median paces moved, as the median over the backend, by less than ``MIN_PACE_MOVE`` either way
    (``attrs[READ_ATTR]``, NEW's samples' attributes after :func:`harness.benchpace.bench_paced`). The median, not
    each benchmark: the probe read after a kernel's round carries some of that kernel's wake (on the Zen 2 VM the
    readings after numpy's and numba-cpu's rounds moved 1.08-1.14x for one or two of a backend's five benchmarks in
    four of six unchanged pairs, their times 0.94-1.03x), while a slow minute of the machine moves most of the
    block's readings. Benchmarks whose own pace moved keep it divided out and their floors widened
    (:func:`harness.benchpace.pace_widened`)."""
    by_backend: dict = {}
    for (backend, _), move in (attrs.get(READ_ATTR) or {}).items():
        by_backend.setdefault(backend, []).append(move)
    return {backend for backend, moves in by_backend.items() if abs(statistics.median(moves)) < MIN_PACE_MOVE}


def best_round_log_ratio(base_rounds, new_rounds) -> float:
    """log(NEW's best round / BASE's best round); NaN where either side has no positive round."""
    base = [t for t in base_rounds if t > 0]
    new = [t for t in new_rounds if t > 0]
    return math.log(min(new) / min(base)) if base and new else math.nan


def block_moves(ratios: list, alpha: float, fastest: list, left_out, rounds: list, attrs: dict,
                in_blocks: bool) -> tuple[set, dict]:
    """``(back_to_back, {backend: BackendMove})``: :func:`harness.backendmove.backend_moves` of the rows, and for a
    one-file-a-side comparison (``in_blocks``) every judged backend in ``back_to_back`` (its floor holds its common
    shift) and a move for each :func:`steady_blocks` backend - its rows' fastest passes their best rounds
    (``rounds``: each row's ``(BASE rounds, NEW rounds)`` in the order of ``ratios``), its least move
    ``PROCESS_SHIFT``."""
    if not in_blocks:
        return set(), backend_moves(ratios, alpha, fastest, left_out)
    steady = steady_blocks(attrs)
    fastest = [best_round_log_ratio(*pair) if backend in steady else f
               for (backend, _, _), f, pair in zip(ratios, fastest, rounds)]
    moves = {backend: replace(move, least_move=PROCESS_SHIFT)
             for backend, move in backend_moves(ratios, alpha, fastest, left_out).items()}
    return {backend for backend, _, _ in ratios}, moves
