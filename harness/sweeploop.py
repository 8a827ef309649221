"""The sweep loop, the only one: every point of a sweep through an executor, pass by pass, each pass on disk.

A point (one backend on a case or on a branch's chain, see :mod:`harness.plan`) is
measured in ``repeats`` passes spread over the sweep (pass 1 of every point, then
pass 2 of every point, ...), each with a fresh ``prepare`` and its share of the
budget. Interference on a shared machine comes in episodes, and an episode then hits
one pass of a point rather than all of its rounds; passes that disagree get the point
more passes (:mod:`harness.passes`). Every finished pass is appended to the run's
passes file before the next starts, so a kill loses at most the passes in flight;
``kept`` passes (from :func:`harness.resume.load_progress`) are pooled and only the
missing ones measured. The executor - this process, a worker per backend, or a Dask
cluster - runs the passes; this loop is the same for all of them. Knows nothing of
terminals: progress is reported through callbacks.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from .backends import device_of
from .casedata import case_data_or_problem
from .contention import is_contended, median_share
from .executor import InProcessExecutor
from .jobs import PointJob
from .memory import case_bytes, too_big
from .passes import combine_passes, point_done
from .plan import Point, iter_points
from .probe import ProbeReference
from .rows import PointResult, failed_point
from .settings import MAX_EXTRA_PASSES
from .timing import TimingConfig, pass_config
from .trust import with_trust


#: A pass's readings that its record keeps and the point's row does not (harness.probe, harness.pace,
#: harness.quiesce).
PASS_ONLY = ("probe_s", "probe_before_s", "probe_after_s", "pace_s", "quiet_wait_s", "handoff_s", "handoff_before_s",
             "handoff_after_s")


@dataclass
class SweepStats:
    """Counts of what a sweep did, by status, plus points skipped because a resumed run had them."""

    by_status: dict = field(default_factory=dict)
    already_done: int = 0
    wall_s: float = 0.0
    #: Seconds the timed passes waited, after timing, for their own library threads to park (:mod:`harness.quiesce`).
    quiet_wait_s: float = 0.0

    def add(self, result: PointResult) -> None:
        """Count one finished point."""
        self.by_status[result.status] = self.by_status.get(result.status, 0) + 1


def case_problem(case) -> tuple[str, str] | None:
    """("failed"|"skipped", reason) for a case that cannot be built or does not fit in memory, else None;
    checked before anything is allocated."""
    try:
        spec = case.spec
    except (TypeError, ValueError) as exc:
        return "failed", f"invalid case: {exc}"
    big = too_big(case_bytes(spec), "the case's inputs and reference")
    return ("skipped", big) if big else None


class CaseCache:
    """Case data kept between passes (the reference is the costly part), up to ``max_bytes`` in all."""

    def __init__(self, max_bytes: int = 1 << 30):
        self.max_bytes = max_bytes
        self.entries: dict[int, object] = {}

    def get(self, group: int, case):
        """The data of case ``group`` (None if it cannot be made), made once while it fits in the cache, and
        made again when an in-process kernel changed it."""
        data = self.entries.get(group)
        if data is None or data.changed_inputs():
            data, _ = case_data_or_problem(case)
            size = data.nbytes if data else 0
            while self.entries and size + sum(d.nbytes for d in self.entries.values()) > self.max_bytes:
                self.entries.pop(next(iter(self.entries)))
            if data is not None and size <= self.max_bytes:
                self.entries[group] = data
        return data


def problem_result(run_id: str, point: Point, problem: tuple[str, str]) -> PointResult:
    """The final row of a point whose case cannot be measured at all."""
    result = failed_point(run_id, point.backend, device_of(point.backend), point.case, problem[1])
    result.row["status"] = problem[0]
    return result


def run_sweep(cases: Sequence, backends: Sequence[str], config: TimingConfig, writer, *, run_id: str,
              done: set | None = None, kept: dict | None = None, timed: bool = True, repeats: int = 1,
              executor=None, peak: dict | None = None, clock: Callable[[], float] = time.perf_counter,
              on_start: Callable | None = None, on_step: Callable[[int], None] | None = None,
              on_done: Callable[[PointResult], None] | None = None, probes: Sequence[dict] = (),
              fresh_workers: bool = False) -> SweepStats:
    """Measure every point of ``cases`` x ``backends`` not in ``done``; append each pass and each final point
    through ``writer`` (the row with its trust flags against ``peak`` and its ``point`` index).

    ``probes`` are the probe readings (``host``, ``threads``, ``probe_s``) a resumed run recorded before, of finished
    points and of the ``kept`` passes alike: the reference that judges passes (:mod:`harness.probe`) goes on from
    them (each once). ``fresh_workers``: before each round of passes after the first, the executor starts the
    waiting backends' workers anew (:meth:`harness.executor.WorkerExecutor.renew`), so a point's passes run in
    different processes.
    ``executor`` is a started executor (:mod:`harness.executor`, :class:`harness.cluster.DaskExecutor`); the
    default one, this process with ``clock``, is started and closed here. A point whose case cannot be built
    or is too big becomes a final row at once; the sweep always goes on. ``KeyboardInterrupt`` (and a lost
    cluster) propagate after the finished passes and points are on disk.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    repeats = repeats if timed else 1
    start = time.perf_counter()
    sweep = _Sweep(lambda: iter_points(cases, backends), done or set(), kept or {}, config, writer, run_id, timed,
                   repeats, peak, on_step, on_done)
    for reading in probes:
        sweep.probes.add(reading)
    own = executor is None
    if own:
        executor = InProcessExecutor(clock)
        executor.start(backends)
    try:
        for n_pass in range(repeats + MAX_EXTRA_PASSES + 1):
            if n_pass and not any(len(results) == n_pass for results in sweep.passes.values()):
                continue  # no point waits for this pass: no scan of the plan
            if n_pass and fresh_workers:  # each pass of a point in a fresh worker process (WorkerExecutor.renew)
                executor.renew({results[0].row["backend"] for results in sweep.passes.values()
                                if len(results) == n_pass})
            for point, result in executor.map(sweep.items(sweep.batch(n_pass), executor.wants_data), on_start):
                sweep.record(point, n_pass, result)
    finally:
        if own:
            executor.close()
    sweep.stats.wall_s = time.perf_counter() - start
    return sweep.stats


class _Sweep:
    """The state of one run of :func:`run_sweep`: the passes of started, unfinished points, and what to do with a
    pass. The plan is walked once per pass (``points()`` makes it anew each time), never held: a point's passes
    are kept from its first pass until it is final, and nothing else of it."""

    def __init__(self, points, done, kept, config, writer, run_id, timed, repeats, peak, on_step, on_done):
        self.points, self.done, self.config, self.writer = points, done, config, writer
        self.passes = {key: list(results) for key, results in kept.items() if key not in done}
        self.probes = ProbeReference()  # the host's usual probe reading so far: which passes ran on a slowed core
        if timed:
            self.probes.seed()  # a resumed run's recorded readings, kept passes' too, come through run_sweep's probes
        self.run_id, self.timed, self.repeats, self.peak = run_id, timed, repeats, peak
        self.stats = SweepStats()
        self.on_step, self.on_done = on_step or (lambda n: None), on_done
        self.one_pass = pass_config(config, repeats)
        self.cache = CaseCache()

    def batch(self, n_pass: int) -> Iterator[Point]:
        """The points that wait for pass ``n_pass``, in sweep order, as the walk reaches them. The first walk
        also counts the points a resumed run has finished, and finishes those its kept passes already decide."""
        for point in self.points():
            if n_pass == 0 and point.key in self.done:
                self.stats.already_done += 1
                continue
            results = self.passes.get(point.key, ())
            if n_pass == 0 and results and point_done(results, self.repeats, timed=self.timed):
                self.on_step(max(0, self.repeats - len(results)))
                self.finish(point)
            elif len(results) == n_pass and (results or n_pass == 0):
                yield point

    def items(self, batch: Iterable[Point], wants_data: bool):
        """``(point, job, data)`` of the points in ``batch`` (data made lazily, as each is run); a point whose
        case cannot be measured is recorded at once instead."""
        group, problem = None, None  # the points of a group come one after the other
        for point in batch:
            if point.group != group:
                group, problem = point.group, case_problem(point.case)
            if problem:
                self.record(point, 0, problem_result(self.run_id, point, problem))
                continue
            job = PointJob(point.backend, point.case, self.one_pass, self.run_id, self.timed, self.config.budget_s,
                           self.repeats)
            yield point, job, self.cache.get(point.group, point.case) if wants_data else None

    def record(self, point: Point, n_pass: int, result: PointResult) -> None:
        """Keep one finished pass (on disk, for a timed sweep); finish the point when it is decided."""
        results = self.passes.setdefault(point.key, [])
        results.append(result)
        self.probes.add(result.row)
        final = point_done(results, self.repeats, timed=self.timed)
        if self.timed:
            self.writer.append_pass(point.key, len(results) - 1, result)
        planned = n_pass < self.repeats
        self.on_step((self.repeats - n_pass if final else 1) if planned else 0)
        if final:
            self.finish(point)

    def finish(self, point: Point) -> None:
        """Pool the point's passes into its row and append it (flagged ``disturbed`` when every pass ran on a
        slowed core: :mod:`harness.probe`; ``contended`` when its median pass's ``others_share`` reached
        ``CONTENDED_SHARE``: :mod:`harness.contention`)."""
        results = self.passes.pop(point.key)
        self.stats.quiet_wait_s += sum(r.row.get("quiet_wait_s") or 0.0 for r in results)
        disturbed = self.timed and self.probes.all_disturbed(r.row for r in results)
        share = median_share(r.row for r in results) if self.timed else None
        result = combine_passes(results, self.config, self.repeats)
        row = {k: v for k, v in result.row.items() if k not in PASS_ONLY}  # a pass's, not columns of the table
        row["others_share"], contended = share, is_contended(share)
        result.row = dict(with_trust(row, self.config.target_rel_ci, self.peak, disturbed, contended),
                          point=point.index)
        self.writer.append(result.row, result.samples_s)
        self.stats.add(result)
        if self.on_done:
            self.on_done(result)
