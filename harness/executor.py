"""The local executor: every case x backend through :func:`measure_point`, each row appended as it finishes.

A point is measured in ``repeats`` passes spread over the sweep (pass 1 of every
point, then pass 2 of every point, ...), each with a fresh ``prepare`` and its
share of the budget; the passes' samples are pooled into one row. Interference
on a shared machine comes in episodes, and an episode then hits one pass of a
point rather than all of its rounds. Knows nothing of terminals: progress is
reported through callbacks.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .cases import Case, point_key
from .casedata import case_data_or_problem
from .measure import SpeedEstimator, combine_passes, measure_point
from .rows import PointResult, failed_point
from .settle import Settler
from .threads import thread_limits
from .timing import TimingConfig, pass_config
from .trust import with_trust


@dataclass
class SweepStats:
    """Counts of what a sweep did, by status, plus points skipped because a resumed run had them."""

    by_status: dict = field(default_factory=dict)
    already_done: int = 0
    wall_s: float = 0.0

    def add(self, result: PointResult) -> None:
        """Count one finished point."""
        self.by_status[result.status] = self.by_status.get(result.status, 0) + 1


def run_sweep(cases: Sequence[Case], backends: Sequence[str], config: TimingConfig, writer, *,
              run_id: str, done: set | None = None, timed: bool = True, repeats: int = 1,
              peak: dict | None = None, settler: Settler | None = None,
              clock: Callable[[], float] = time.perf_counter,
              on_start: Callable[[str, Case], None] | None = None,
              on_step: Callable[[int], None] | None = None,
              on_done: Callable[[PointResult], None] | None = None) -> SweepStats:
    """Measure every (backend, case) not in ``done``; append each finished point through ``writer``.

    Within a pass, cases run in order and, within a case, backends in order,
    sharing the case's inputs and reference. A point that is not ``ok`` after a
    pass is final at once; a final row gets its trust flags (against ``peak``).
    ``settler`` spins the machine before the first point and after idle gaps. An impossible case shape becomes a ``failed`` row for
    every backend; the sweep always goes on. ``KeyboardInterrupt`` propagates
    after the finished points are on disk.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    repeats = repeats if timed else 1
    done = done or set()
    stats = SweepStats()
    estimator = SpeedEstimator(clock)
    one_pass = pass_config(config, repeats)
    pending: dict[tuple, list[PointResult]] = {}
    for backend in backends:  # import optional libraries now, so thread_limits reaches their pools too
        _unavailable(backend)
    start = time.perf_counter()
    for n_pass in range(repeats):
        for case_index, case in enumerate(cases):
            keys = {b: point_key(b, case) for b in backends}
            todo = [b for b in backends if keys[b] not in done and (n_pass == 0 or keys[b] in pending)]
            if n_pass == 0:
                stats.already_done += len(backends) - len(todo)
            if not todo:
                continue
            data, problem = case_data_or_problem(case)
            with thread_limits(case.threads):
                for backend in todo:
                    if on_start:
                        on_start(backend, case)
                    if problem:
                        result = failed_point(run_id, backend, _device(backend), case, problem)
                    else:
                        if settler and timed:
                            settler.before_point()
                        result = measure_point(backend, case, data, one_pass, run_id=run_id, timed=timed,
                                               clock=clock, estimator=estimator, point_budget_s=config.budget_s)
                        if settler:
                            settler.after_point()
                    results = pending.setdefault(keys[backend], [])
                    results.append(result)
                    final = result.status != "ok" or n_pass == repeats - 1
                    if on_step:
                        on_step(repeats - n_pass if final else 1)
                    if final:
                        point = combine_passes(pending.pop(keys[backend]), config)
                        point.row = with_trust(point.row, config.target_rel_ci, peak)
                        point.row["point"] = case_index * len(backends) + backends.index(backend)
                        writer.append(point.row, point.samples_s)
                        stats.add(point)
                        if on_done:
                            on_done(point)
    stats.wall_s = time.perf_counter() - start
    return stats


def _unavailable(backend: str) -> str | None:
    import kernels

    try:
        return kernels.get_backend(backend).unavailable_reason()
    except Exception as exc:  # measured again (and recorded) per point
        return str(exc)


def _device(backend: str) -> str:
    import kernels

    try:
        return kernels.get_backend(backend).device
    except Exception:
        return "?"
