"""One point's pass as a job: what an executor (in this process, a worker process, a Dask worker) runs.

:func:`run_job` is the one point function every executor calls: the case's data
is made read-only, :func:`harness.measure.measure_point` measures, and a checksum
of the inputs afterwards catches a kernel that wrote them anyway. The memory
estimate is checked first, before the backend allocates anything.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from .cases import Case
from .casedata import CaseData
from .measure import SpeedEstimator, measure_point
from .memory import point_bytes, too_big
from .rows import PointResult, base_row
from .timing import TimingConfig


@dataclass(frozen=True)
class PointJob:
    """One pass of one point: backend, case, this pass's timing config, and the whole point's budget."""

    backend: str
    case: Case
    config: TimingConfig
    run_id: str = ""
    timed: bool = True
    point_budget_s: float | None = None


def device_of(backend: str) -> str:
    """The backend's device ("cpu", "cuda"), or "?" for a name that is not registered (here)."""
    import kernels

    try:
        return kernels.get_backend(backend).device
    except Exception:
        return "?"


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


def run_job(job: PointJob, data: CaseData, estimator: SpeedEstimator | None = None,
            clock: Callable[[], float] = time.perf_counter) -> PointResult:
    """Measure one pass of one point on read-only inputs; a kernel that changed them gets a ``failed`` row."""
    problem = memory_problem(job)
    if problem:
        return skipped_for_memory(job, problem)
    data.freeze()
    result = measure_point(job.backend, job.case, data, job.config, run_id=job.run_id, timed=job.timed,
                           clock=clock, estimator=estimator, point_budget_s=job.point_budget_s)
    changed = data.changed_inputs()
    if changed:
        result = PointResult(dict(result.row, status="failed",
                                  reason=f"the kernel wrote to its read-only input(s) {' and '.join(changed)}; "
                                         "a backend must not modify x or w"))
    return result
