"""The sweep loop: every case x backend through :func:`measure_point`, each row appended as it finishes.

Knows nothing of terminals: progress is reported through callbacks, so the CLI
draws a rich progress bar and tests pass plain functions.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .cases import Case
from .measure import PointResult, SpeedEstimator, base_row, make_case_data, measure_point
from .results import ResultsWriter
from .threads import thread_limits
from .timing import TimingConfig


def point_key(backend: str, case: Case) -> tuple:
    """The (backend, case identity) key of a point, as strings, matching results.KEY_COLUMNS."""
    return tuple(str(v) for v in (backend, *case.key))


@dataclass
class SweepStats:
    """Counts of what a sweep did, by status, plus points skipped because a resumed run had them."""

    by_status: dict = field(default_factory=dict)
    already_done: int = 0
    wall_s: float = 0.0

    def add(self, result: PointResult) -> None:
        """Count one finished point."""
        self.by_status[result.status] = self.by_status.get(result.status, 0) + 1


def run_sweep(cases: Sequence[Case], backends: Sequence[str], config: TimingConfig, writer: ResultsWriter, *,
              run_id: str, done: set | None = None, timed: bool = True,
              clock: Callable[[], float] = time.perf_counter,
              on_start: Callable[[str, Case], None] | None = None,
              on_done: Callable[[PointResult], None] | None = None) -> SweepStats:
    """Measure every (backend, case) not in ``done``; append each finished point through ``writer``.

    Cases run in order and, within a case, backends in order, sharing the case's
    inputs and reference. An impossible case shape becomes a ``failed`` row for
    every backend; the sweep always goes on. ``KeyboardInterrupt`` propagates
    after the finished points are on disk.
    """
    done = done or set()
    stats = SweepStats()
    estimator = SpeedEstimator(clock)
    start = time.perf_counter()
    for case in cases:
        todo = [b for b in backends if point_key(b, case) not in done]
        stats.already_done += len(backends) - len(todo)
        if not todo:
            continue
        try:
            data = make_case_data(case)
            problem = None
        except (TypeError, ValueError) as exc:
            data, problem = None, f"invalid case: {exc}"
        with thread_limits(case.threads):
            for backend in todo:
                if on_start:
                    on_start(backend, case)
                if problem:
                    result = PointResult(dict(base_row(run_id, backend, _device(backend), case),
                                              status="failed", reason=problem))
                else:
                    result = measure_point(backend, case, data, config, run_id=run_id, timed=timed,
                                           clock=clock, estimator=estimator)
                writer.append(result.row, result.samples_s)
                stats.add(result)
                if on_done:
                    on_done(result)
    stats.wall_s = time.perf_counter() - start
    return stats


def _device(backend: str) -> str:
    import kernels

    try:
        return kernels.get_backend(backend).device
    except Exception:
        return "?"
