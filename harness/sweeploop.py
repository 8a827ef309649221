"""The sweep loop: every case x backend through an executor, pass by pass, each pass on disk as it finishes.

A point is measured in ``repeats`` passes spread over the sweep (pass 1 of every
point, then pass 2 of every point, ...), each with a fresh ``prepare`` and its
share of the budget; the passes' samples are pooled into one row. Interference
on a shared machine comes in episodes, and an episode then hits one pass of a
point rather than all of its rounds. Every finished pass is appended to the
run's passes file before the next starts, so a kill loses at most the pass in
flight; ``kept`` passes (from :func:`harness.resume.load_progress`) are pooled
and only the missing ones measured. Knows nothing of terminals: progress is
reported through callbacks.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .cases import Case, point_key
from .casedata import case_data_or_problem
from .executor import InProcessExecutor
from .jobs import PointJob, device_of
from .measure import combine_passes
from .memory import case_bytes, too_big
from .rows import PointResult, failed_point
from .settle import Settler
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


def case_problem(case: Case):
    """(data, None) for a case that can be built; (None, ("failed"|"skipped", reason)) otherwise.

    The memory estimate is checked before anything is allocated.
    """
    try:
        spec = case.spec
    except (TypeError, ValueError) as exc:
        return None, ("failed", f"invalid case: {exc}")
    big = too_big(case_bytes(spec), "the case's inputs and reference")
    if big:
        return None, ("skipped", big)
    data, problem = case_data_or_problem(case)
    return data, (("failed", problem) if problem else None)


class CaseCache:
    """Case data kept between passes (the reference is the costly part), up to ``max_bytes`` in all."""

    def __init__(self, max_bytes: int = 1 << 30):
        self.max_bytes = max_bytes
        self.entries: dict[int, tuple] = {}

    def get(self, index: int, case: Case):
        """(data, problem) of case ``index``, made once while it fits in the cache."""
        if index not in self.entries:
            data, problem = case_problem(case)
            size = sum(a.nbytes for a in (data.x, data.w, data.reference, data.tolerance)) if data else 0
            while self.entries and size + self.size() > self.max_bytes:
                self.entries.pop(next(iter(self.entries)))
            if size <= self.max_bytes:
                self.entries[index] = (data, problem)
            return data, problem
        return self.entries[index]

    def size(self) -> int:
        """Bytes held."""
        return sum(sum(a.nbytes for a in (d.x, d.w, d.reference, d.tolerance)) for d, _ in self.entries.values() if d)

    def drop(self, index: int) -> None:
        """Forget case ``index`` (its inputs were changed by a kernel)."""
        self.entries.pop(index, None)


def run_sweep(cases: Sequence[Case], backends: Sequence[str], config: TimingConfig, writer, *,
              run_id: str, done: set | None = None, kept: dict | None = None, timed: bool = True,
              repeats: int = 1, executor=None, peak: dict | None = None, settler: Settler | None = None,
              clock: Callable[[], float] = time.perf_counter,
              on_start: Callable[[str, Case], None] | None = None,
              on_step: Callable[[int], None] | None = None,
              on_done: Callable[[PointResult], None] | None = None) -> SweepStats:
    """Measure every (backend, case) not in ``done``; append each pass and each finished point through ``writer``.

    Within a pass, cases run in order and, within a case, backends in order,
    sharing the case's inputs and reference. A point that is not ``ok`` after a
    pass is final at once. An impossible or too big case becomes a row for every
    backend; the sweep always goes on. ``executor`` defaults to this process
    (:class:`InProcessExecutor` with ``clock``). A final row gets its trust flags
    (against ``peak``); ``settler`` spins the machine before the first point and
    after idle gaps. ``KeyboardInterrupt`` propagates after the finished passes
    and points are on disk.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    repeats = repeats if timed else 1
    done = done or set()
    stats = SweepStats()
    one_pass = pass_config(config, repeats)
    executor = executor or InProcessExecutor(clock)
    keys = {(b, ci): point_key(b, case) for ci, case in enumerate(cases) for b in backends}
    pending: dict[tuple, list[PointResult]] = {k: list((kept or {}).get(k, ())) for k in keys.values()
                                               if k not in done}
    stats.already_done = len(keys) - len(pending)
    start = time.perf_counter()

    def finish(key, case_index, backend) -> None:
        point = combine_passes(pending.pop(key), config)
        point.row = with_trust(point.row, config.target_rel_ci, peak)
        point.row["point"] = case_index * len(backends) + backends.index(backend)
        writer.append(point.row, point.samples_s)
        stats.add(point)
        if on_done:
            on_done(point)

    for (backend, ci), key in keys.items():  # passes kept from before that already decide the point
        results = pending.get(key)
        if results and (results[-1].status != "ok" or len(results) >= repeats):
            if on_step:
                on_step(repeats - len(results) if len(results) < repeats else 0)
            finish(key, ci, backend)
    executor.start([b for b in backends if any(k[0] == b for k in pending)])
    cache = CaseCache()
    try:
        for n_pass in range(repeats):
            for ci, case in enumerate(cases):
                todo = [b for b in backends if keys[b, ci] in pending and len(pending[keys[b, ci]]) == n_pass]
                if not todo:
                    continue
                data, problem = cache.get(ci, case)
                for backend in todo:
                    if on_start:
                        on_start(backend, case)
                    if problem:
                        result = failed_point(run_id, backend, device_of(backend), case, problem[1])
                        result.row["status"] = problem[0]
                    else:
                        job = PointJob(backend, case, one_pass, run_id, timed, config.budget_s)
                        if settler and timed:
                            settler.before_point()
                        result = executor.run(job, data)
                        if settler:
                            settler.after_point()
                        if data.changed_inputs():  # an in-process kernel forced its inputs writable
                            cache.drop(ci)
                            data, _ = cache.get(ci, case)
                    key = keys[backend, ci]
                    pending[key].append(result)
                    final = result.status != "ok" or n_pass == repeats - 1
                    if timed and not final:
                        writer.append_pass(key, n_pass, result)
                    if on_step:
                        on_step(repeats - n_pass if final else 1)
                    if final:
                        finish(key, ci, backend)
    finally:
        executor.close()
    stats.wall_s = time.perf_counter() - start
    return stats
