"""The move of a backend as a whole in ``harness compare``: the same slowdown on every point is not noise.

A point's own interval holds the run-to-run floor, the spread of its backend's other points
(:mod:`harness.noisefloor`) - on a shared 2-vCPU VM +/-20-30% at alpha 0.01 between two unchanged
``inception3a`` runs, so one point cannot show a 1.3x change. Sixteen points that all moved by about
1.3x can: noise scatters the points of a run around 1, a change of the code moves them together.
The backend's move is the mean of its points' log ratios with a Student-t interval from their
scatter (:func:`backend_moves`); when it lies wholly beyond the threshold the backend moved, and a
point whose own ratio is beyond the threshold on the same side and whose own interval holds the
backend's move shares it (:func:`shares`) - ``slower`` with a note that says so; its own passes'
doubts do not hold it back (the backend's fastest passes must have followed instead, see
:meth:`BackendMove.followed`), its best round and interference flags still do. A point whose interval
excludes its backend's move did not move with it and is judged on its own evidence alone.

Measured on the Intel Xeon VM (2 vCPU, AVX-512), all ordered pairs of unchanged default sweeps (smoke:
two sets of four runs; inception3a: two sets of three quiet, two beside a busy loop): no backend moved
beyond the threshold in any A/A pair; a 1.3x slowdown injected into one backend of a quiet inception3a
run was `slower` on 91-100% of its rows (10-34% on the point's own evidence alone). One pytest-benchmark
file a side has no passes; its backends move only where the machine's pace held steady through their block, by
more than one process's own shift (:mod:`harness.benchblocks`); several files a side move, one pass per file
(:mod:`harness.benchfiles`). Numbers: docs/compare.md.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

#: A backend needs this many judged points for a move of its own (fewer: each point stands alone).
MIN_POINTS = 4


@dataclass(frozen=True)
class BackendMove:
    """A backend's move between two runs: the geometric mean NEW/BASE ratio of its points and its interval."""

    ratio: float
    ratio_lo: float
    ratio_hi: float
    points: int
    fastest_pass_ratio: float = math.nan
    #: The least move (a ratio) that counts as the code's when larger than ``1 + threshold``: a shift of the whole
    #: backend this large may be the process's (:data:`harness.benchblocks.PROCESS_SHIFT`); 1.0: none.
    least_move: float = 1.0

    def followed(self) -> bool:
        """True when the points' fastest passes moved with the backend by at least half as far (in log, their
        geometric mean; True when unknown). A change of the code slows every pass of every
        point; a competing process during one run slows some passes of each point, and their fastest stays."""
        if not math.isfinite(self.fastest_pass_ratio):
            return True
        move = math.log(self.ratio)
        return math.log(self.fastest_pass_ratio) * (1 if move >= 0 else -1) >= abs(move) / 2

    def direction(self, threshold: float) -> int:
        """+1 when the whole interval lies above ``1 + threshold`` (and ``least_move``), -1 when below its inverse,
        else 0."""
        band = max(math.log1p(threshold), math.log(self.least_move))
        return 1 if math.log(self.ratio_lo) > band else -1 if math.log(self.ratio_hi) < -band else 0

    def detectable(self, threshold: float) -> float:
        """The smallest move of every point that this backend's interval would show beyond ``threshold``."""
        return max(1 + threshold, self.least_move) * self.ratio_hi / self.ratio

    def verdict(self, threshold: float) -> str:
        """``slower`` / ``faster`` beyond the threshold, ``same`` wholly inside it, else ``inconclusive``."""
        direction = self.direction(threshold)
        if direction:
            return "slower" if direction > 0 else "faster"
        band = math.log1p(threshold)
        inside = -band <= math.log(self.ratio_lo) and math.log(self.ratio_hi) <= band
        return "same" if inside else "inconclusive"


def backend_moves(rows, alpha: float, fastest_pass=None, left_out=frozenset()) -> dict[str, BackendMove]:
    """``{backend: BackendMove}`` from ``(backend, log_ratio, within_se)`` rows, for each backend with at least
    ``MIN_POINTS`` finite log ratios whose passes are known in both runs: their mean +/- ``t(alpha, n - 1) * sd /
    sqrt(n)``. ``fastest_pass`` holds, row by row, the log ratio of the point's fastest passes (NaN where a run's
    passes are unknown); rows numbered in ``left_out`` (a burst, other processes or the machine's state moved them in
    one run, :func:`harness.compare_rule.burst_hit`, :func:`harness.interference.contention_split`,
    :func:`harness.interference.state_moved`) are left out. A backend
    without passes has no move (unless its block read a steady pace, :mod:`harness.benchblocks`): its points were
    timed back to back (pytest-benchmark runs a backend's benchmarks in one block), so one slow minute of the
    machine moves them all together - two unchanged pytest-benchmark runs on
    the Intel VM had numpy's five points 1.19-1.40x apart - where a sweep's passes spread each point's timing over
    the whole run."""
    import numpy as np

    from .noisefloor import t_of

    by_backend: dict = {}
    fastest_by_backend: dict = {}
    fastest_pass = [math.nan] * len(rows) if fastest_pass is None else list(fastest_pass)
    for i, ((backend, d, _), fast) in enumerate(zip(rows, fastest_pass)):
        if math.isfinite(d) and i not in left_out:
            by_backend.setdefault(backend, []).append(d)
            if math.isfinite(fast):
                fastest_by_backend.setdefault(backend, []).append(fast)
    out = {}
    for backend, values in by_backend.items():
        if len(values) < MIN_POINTS or len(fastest_by_backend.get(backend, ())) < len(values):
            continue
        d = np.asarray(values, dtype=float)
        mean, half = float(d.mean()), t_of(alpha, len(d) - 1) * float(d.std(ddof=1)) / math.sqrt(len(d))
        out[backend] = BackendMove(math.exp(mean), math.exp(mean - half), math.exp(mean + half), len(d),
                                   math.exp(float(np.mean(fastest_by_backend[backend]))))
    return out


def shares(move: BackendMove | None, threshold: float, log_ratio: float, lo: float, hi: float) -> int:
    """+1 (-1) when a point shares its backend's move beyond the threshold: the backend moved, the point's own
    log ratio lies beyond the threshold on the same side and its own interval ``[lo, hi]`` (log) holds the
    backend's move, and the backend's fastest passes followed it (:meth:`BackendMove.followed`); else 0."""
    if move is None or not move.followed():
        return 0
    direction = move.direction(threshold)
    if not direction or direction * log_ratio <= math.log1p(threshold):
        return 0
    return direction if lo <= math.log(move.ratio) <= hi else 0

