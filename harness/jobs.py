"""One point's pass as a job: what every executor (this process, a worker process, a Dask worker) runs.

A :class:`PointJob` has a kind, its case's: ``"conv"`` (a convolution backend on a
:class:`harness.cases.Case`) or ``"chain"`` (a fused chain backend on a
:class:`harness.fused.ChainCase`). :func:`run_job` is the one point function of
every executor: the memory estimate is checked before anything is allocated, the
case's data is made (where the executor did not bring it) and made read-only, the
point's thread count is applied to every library, :func:`harness.measure.measure_point`
measures, and a checksum of the inputs afterwards catches a kernel that wrote them. A timed CPU pass then waits
for its own library threads to stop spinning (:mod:`harness.quiesce`), so that the next pass meets quiet cores; a
multi-threaded one first reads the cores' hand-off (:mod:`harness.handoff`) and lets that probe's pool park too.
"""
from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass

from .backends import device_of
from .casedata import CaseData, make_case_data
from .contention import OthersMeter
from .handoff import handoff_probe_s
from .measure import SpeedEstimator, measure_point
from .memory import point_bytes, too_big
from .probe import cores_probe_s, pace_s, probe_s, probes_every_core
from .quiesce import wait_own_threads
from .rows import PointResult, base_row, failed_point
from .threads import thread_limits
from .timing import TimingConfig


@dataclass(frozen=True)
class PointJob:
    """One pass of one point: backend, case, this pass's timing config, the whole point's budget and passes."""

    backend: str
    case: object  # a Case or a ChainCase
    config: TimingConfig
    run_id: str = ""
    timed: bool = True
    point_budget_s: float | None = None
    passes: int = 1

    @property
    def kind(self) -> str:
        """``"conv"`` or ``"chain"``: the kind of the job's case."""
        return self.case.kind


def memory_problem(job: PointJob) -> str | None:
    """The ``skipped`` reason when the point's memory estimate does not fit, else None."""
    try:
        spec = job.case.spec
    except (TypeError, ValueError):
        return None
    return too_big(point_bytes(job.backend, spec), f"{job.backend} on this layer")


def skipped_for_memory(job: PointJob, reason: str) -> PointResult:
    """The ``skipped`` row of a point too big for memory."""
    return PointResult(dict(base_row(job.run_id, job.backend, device_of(job.backend), job.case),
                            status="skipped", reason=reason))


@functools.lru_cache(maxsize=2)
def cached_case_data(case) -> CaseData:
    """The case's data, kept for the next pass of the same case (an executor that brings none: Dask)."""
    return make_case_data(case)


def process_clock(threads: int) -> Callable[[], float]:
    """``--clock process``: this process's CPU seconds divided by the point's threads (time the kernel was not
    scheduled, because other processes had the cores, does not count)."""
    return lambda: time.process_time() / threads


def pass_probe(job: PointJob) -> Callable[[], float] | None:
    """How to probe the cores around a pass of ``job`` (:mod:`harness.probe`): every core for a multi-threaded
    CPU point (it waits for its slowest thread), the current one for a single thread; none for an untimed pass
    or a GPU point (timed by device events: the host's cores do not set its speed)."""
    if not job.timed or device_of(job.backend) != "cpu":
        return None
    return cores_probe_s if probes_every_core(job.case.threads) else probe_s


def pass_handoff(threads: int) -> tuple[float, float]:
    """``(reading, seconds waited)``: the cores' hand-off on ``threads`` threads just before a multi-threaded CPU pass
    (:func:`harness.handoff.handoff_probe_s`), then the wait for Numba's pool to stop spinning (~10-15 ms), so that
    neither the core probe nor the pass's rounds meet it. Read before the pass only: read after it, the pass's own
    library threads, still spinning, slowed the region up to 8 ms a call (OpenBLAS after a 2-thread 256x256 GEMM)."""
    with thread_limits(threads):
        reading = handoff_probe_s()
    return reading, wait_own_threads()


def pass_meter(clock: Callable[[], float], wall: Callable[[], float] | None) -> OthersMeter | None:
    """The meter of other processes' share of the machine during a CPU pass (:mod:`harness.contention`), started;
    None when the pass is timed by an injected clock (tests): a share of the wall time says nothing of its timings."""
    return OthersMeter().start() if (wall or clock) is time.perf_counter else None


def run_job(job: PointJob, data: CaseData | None = None, estimator: SpeedEstimator | None = None,
            clock: Callable[[], float] = time.perf_counter) -> PointResult:
    """Measure one pass of one point on read-only inputs; a kernel that changed them gets a ``failed`` row."""
    problem = memory_problem(job)
    if problem:
        return skipped_for_memory(job, problem)
    if data is None:
        try:
            data = cached_case_data(job.case)
        except (TypeError, ValueError) as exc:
            return failed_point(job.run_id, job.backend, device_of(job.backend), job.case, f"invalid case: {exc}")
    data.freeze()
    wall = None
    if job.config.clock == "process" and device_of(job.backend) == "cpu":
        clock, wall = process_clock(job.case.threads), time.perf_counter  # rounds sized on the wall clock too
    probe = pass_probe(job)
    real = wall is None and clock is time.perf_counter  # not an injected clock, not --clock process
    pace = pace_s if probe and real else None  # harness.pace
    try:  # the cores' hand-off first (harness.handoff): its pool parks before the core probe and the pass
        handoff = pass_handoff(job.case.threads) if probe and real and probes_every_core(job.case.threads) else None
        before = probe() if probe else None  # the cores' speed just before and after (harness.probe)
        others = pass_meter(clock, wall) if probe else None  # other processes' share of the machine meanwhile
        with thread_limits(job.case.threads):
            result = measure_point(job.backend, job.case, data, job.config, run_id=job.run_id, timed=job.timed,
                                   clock=clock, estimator=estimator, point_budget_s=job.point_budget_s,
                                   passes=job.passes, wall=wall, pace=pace)
    except ValueError as exc:  # more threads than this machine has (a Dask worker on a smaller host)
        return failed_point(job.run_id, job.backend, device_of(job.backend), job.case, str(exc))
    if before is not None and result.status == "ok":
        after = probe()  # both kept in the passes file: their disagreement is the reading's own noise
        result = PointResult(dict(result.row, probe_s=max(before, after), probe_before_s=before, probe_after_s=after,
                                  others_share=others and others.share()), result.samples_s)
    if others is not None:  # a real timed CPU pass: let its library threads park before the next pass starts
        waited = wait_own_threads() + (handoff[1] if handoff else 0.0)
        if result.status == "ok":
            extra = {"handoff_s": handoff[0]} if handoff else {}
            result = PointResult(dict(result.row, quiet_wait_s=waited, **extra), result.samples_s)
    changed = data.changed_inputs()
    if changed:
        cached_case_data.cache_clear()
        result = PointResult(dict(result.row, status="failed",
                                  reason=f"the kernel wrote to its read-only input(s) {' and '.join(changed)}; "
                                         "a backend must not modify its inputs"))
    return result
