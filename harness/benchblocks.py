"""One pytest-benchmark file a side: when a backend's block of benchmarks may move as a whole in ``harness compare``.

pytest-benchmark times a backend's benchmarks one after another, so a slow minute of a shared VM moves all of
them together, exactly as a change of that backend's code would; with no pace known, a backend's common shift
between two files is counted as run-to-run noise (:func:`harness.noisefloor.row_floors`, ``back_to_back``), and
under that block rule alone - still so where no steady pace is known - a slowdown of a whole backend (a compiler
flag, a layout change, a slower dependency on the same interpreter) is never seen, whatever its size (the AMD EPYC
Zen 2 VM, six pairs of unchanged files, block rule: a whole backend slowed 1.6x `slower` on 0 of 90 rows).

The suite reads the machine's pace after every timed round (:class:`tests.bench.steady.PaceLog`). A slow stretch
that moves a block moves the probe too: on the Intel VM its moves of 1.08x or more were the machine's, the times
followed them with a slope of ~1.25 (:mod:`harness.benchpace`). So a backend whose every benchmark carries a pace in
both files, and whose benchmarks' pace moves have a median under ``harness.benchpace.MIN_PACE_MOVE`` (1.08x) either
way, ran on a machine that kept its speed through its block (:func:`steady_blocks`): the block's common move is the
backend's, as a sweep's (:mod:`harness.backendmove`), with each benchmark's best round as its fastest pass (a code
change slows every round; a burst slows some and leaves the best), and it counts only beyond :func:`least_move` -
one process's own shift, which no probe sees. Each benchmark's own floor still holds its backend's shift. A backend
whose block's pace moved, or that has no pace on every round (other suites, several threads, GPU), keeps the block
rule; so do all of them where the files' probes are not the same work (another Python, CPU model or probe:
:mod:`harness.pacetrust`). The two builds of one A/B file are judged the same way (:func:`block_moves`).

Measured on the AMD EPYC Zen 2 VM (AVX2, 2 vCPU), 12 quiet files and 6 beside a process streaming memory on the
other vCPU, every pair (153): the widest common shift of a backend's block was 1.10x (numpy), none exited 1; a whole
backend's 1.6x `slower` on every row of 90 (quiet) and 45 (beside the stream), 1.3x on 17-67%
(docs/measurements/regression-gates-log.md, "One file a side: a whole backend").
"""
from __future__ import annotations

import math
import statistics
from dataclasses import replace

from .backendmove import backend_moves
from .benchpace import MIN_PACE_MOVE, READ_ATTR
from .compare_rule import fastest_pass_log_ratio, z_of

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
    """log(NEW's best round / BASE's best round), each round taken as a pass of
    :func:`harness.compare_rule.fastest_pass_log_ratio`; NaN where either side has no positive round."""
    return fastest_pass_log_ratio([t for t in base_rounds if t > 0], [t for t in new_rounds if t > 0])


def least_move(backend: str, stored: dict | None, z: float) -> float:
    """The least move of a steady block that counts as its code's: ``PROCESS_SHIFT``, or ``z`` x the backend's stored
    A/A floor (``harness compare --save-floor`` / ``calibrate``, :func:`harness.noisefloor.with_stored`) where that is
    wider - a machine whose processes were measured to differ more than 1.25x keeps its own."""
    entry = ((stored or {}).get("backends") or {}).get(backend)
    sd = entry.get("floor_sd") if isinstance(entry, dict) else None
    wider = math.exp(z * sd) if isinstance(sd, (int, float)) and math.isfinite(sd) and sd > 0 else 1.0
    return max(PROCESS_SHIFT, wider)


def block_moves(ratios: list, alpha: float, fastest: list, left_out, rounds: list, attrs: dict, in_blocks: bool,
                stored: dict | None = None) -> tuple[set, dict]:
    """``(back_to_back, {backend: BackendMove})``: :func:`harness.backendmove.backend_moves` of the rows, and for a
    one-file-a-side comparison (``in_blocks``) every judged backend in ``back_to_back`` (its floor holds its common
    shift) and a move for each :func:`steady_blocks` backend - its rows' fastest passes their best rounds
    (``rounds``: each row's ``(BASE rounds, NEW rounds)`` in the order of ``ratios``), its :func:`least_move` from
    ``stored`` (an entry of ``noise.json``). The two builds of one A/B file (``FILE@base`` against ``FILE``) are
    judged alike: each benchmark was timed beside its twin, so their paces agree and their blocks share the process;
    the least move keeps the per-build shifts that judging their blocks at the threshold alone turned into false
    alarms on the Intel VM (2 in 10 unchanged comparisons) out of the verdict. On the Zen 2 VM five unchanged A/B
    files' blocks moved 0.995-1.006x, and a real numpy 1.6x (``CONVBENCH_BENCH_SLOWDOWN``) was `slower` on 5 of 5
    benchmarks in both of two files (the block rule: 0)."""
    if not in_blocks:
        return set(), backend_moves(ratios, alpha, fastest, left_out)
    steady = steady_blocks(attrs)
    fastest = [best_round_log_ratio(*pair) if backend in steady else f
               for (backend, _, _), f, pair in zip(ratios, fastest, rounds, strict=True)]
    moves = {backend: replace(move, least_move=least_move(backend, stored, z_of(alpha)))
             for backend, move in backend_moves(ratios, alpha, fastest, left_out).items()}
    return {backend for backend, _, _ in ratios}, moves
