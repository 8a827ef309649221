"""One point of a sweep: availability -> prepare -> first call -> correctness -> timed rounds -> row.

:func:`measure_point` never raises for a backend's failure: an exception becomes
a ``failed`` row with the error in ``reason``, a wrong answer a ``wrong`` row,
a point too slow for its budget a ``skipped`` row with the estimate.
"""
from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

import kernels

from .cases import Case
from .casedata import CaseData, make_case_data
from .rows import PointResult, base_row, error_reason, finish_row
from .timing import HostCacheFlusher, RoundTimes, TimingConfig, median_rel_ci, time_rounds

#: The tiny layer slow backends (those with ``max_flops_per_call``) are calibrated on.
CALIBRATION_SHAPE = dict(N=1, C=4, H=6, W=6, F=4, k=3, stride=1, padding=1)


@dataclass
class SpeedEstimator:
    """Calibrates slow backends (those with ``max_flops_per_call``) once on a tiny layer."""

    clock: Callable[[], float] = time.perf_counter
    rates: dict = field(default_factory=dict)

    def estimate_call_s(self, impl, spec) -> float | None:
        """Estimated seconds per call of ``impl`` on ``spec``, or None for backends not needing it."""
        if impl.max_flops_per_call() is None:
            return None
        if impl.name not in self.rates:
            cal = kernels.ConvSpec(dtype=spec.dtype, **CALIBRATION_SHAPE)
            x = np.ones(cal.x_shape, cal.dtype)
            w = np.ones(cal.w_shape, cal.dtype)
            prepared = impl.prepare(x, w, cal)
            best = float("inf")
            for _ in range(3):  # the best of three: a fresh worker's first call runs cold
                t0 = self.clock()
                prepared()
                prepared.sync()
                best = min(best, self.clock() - t0)
            self.rates[impl.name] = cal.flops / max(best, 1e-9)
        return spec.flops / self.rates[impl.name]


def measure_point(backend: str, case: Case, data: CaseData | None, config: TimingConfig, *, run_id: str = "",
                  timed: bool = True, clock: Callable[[], float] = time.perf_counter,
                  estimator: SpeedEstimator | None = None, point_budget_s: float | None = None) -> PointResult:
    """Measure ``backend`` on ``case`` following the timing protocol; never raises for backend errors.

    ``config.budget_s`` is this measurement's budget (one pass of a point measured in several);
    ``point_budget_s`` (default: the same) is the whole point's, which bounds a correctness-only run.
    """
    impl = kernels.get_backend(backend)
    row = base_row(run_id, backend, "?", case)
    stage = "checking availability"
    try:
        reason = impl.unavailable_reason()
        row["device"] = impl.device
        if reason is not None:
            return PointResult(dict(row, status="unavailable", reason=reason))
        stage = "building the case"
        spec = case.spec
        if data is None:
            data = make_case_data(case)
        stage = "estimating its cost"
        limit = impl.max_flops_per_call()
        if limit is not None and spec.flops > limit:
            return PointResult(dict(row, status="skipped",
                                    reason=f"{spec.flops / 1e6:.1f} MFLOP per call exceeds {backend}'s limit of "
                                           f"{limit / 1e6:.1f} MFLOP"))
        estimator = estimator or SpeedEstimator(clock)
        est = estimator.estimate_call_s(impl, spec)
        will_time = timed and impl.timing_unsupported_reason() is None
        calls_needed = 1 + (config.min_rounds + 1 if will_time else 0)
        budget_s = config.budget_s if will_time else (point_budget_s or config.budget_s)
        if est is not None and est * calls_needed > budget_s:
            return PointResult(dict(row, status="skipped",
                                    reason=f"estimated {est:.2g} s per call x {calls_needed} calls exceeds "
                                           f"the {budget_s:.3g} s budget"))
        stage = "prepare"
        t0 = clock()
        prepared = impl.prepare(data.x, data.w, spec)
        row["prepare_s"] = clock() - t0
        stage = "first call"
        prepared()
        prepared.sync()
        row["first_call_s"] = clock() - t0
        stage = "reading the result"
        out = prepared.result()
        row.update(h2d_s=prepared.h2d_s, d2h_s=prepared.d2h_s)
        columns, wrong = check_output(out, data.reference, data.tolerance)
        row.update(columns)
        if wrong:
            return PointResult(dict(row, status="wrong", reason=wrong))
        if not timed:
            return PointResult(dict(row, status="ok"))
        not_timed = impl.timing_unsupported_reason()
        if not_timed:
            return PointResult(dict(row, status="skipped", reason=not_timed))
        stage = "timing"
        flush = cold_flush(prepared) if config.cold else None
        rounds = time_rounds(prepared, prepared.sync, config, clock=clock, timer=prepared.event_timer(), flush=flush)
        return PointResult(finish_row(row, rounds, config), rounds.times_s)
    except KeyboardInterrupt:
        raise
    except (Exception, SystemExit) as exc:  # a backend's failure (even sys.exit) is data, not a crash
        reason = error_reason(stage, exc)
        if isinstance(exc, SystemExit):
            reason = f"{stage}: the kernel called sys.exit({exc.code!r})"
        return PointResult(dict(row, status="failed", reason=reason))


def check_output(out, reference: np.ndarray, tolerance) -> tuple[dict, str | None]:
    """(max_abs_err / tolerance / error_margin columns, why the output is wrong or None) for a backend's
    output against the float64 reference and its per-element tolerance."""
    shape = getattr(out, "shape", None)
    kind = getattr(getattr(out, "dtype", None), "kind", None)
    if kind != "f":  # an object or int array may hold the right values, but is not what a kernel computes
        what = f"dtype {out.dtype}" if kind else f"a {type(out).__name__}"
        return {}, f"output is {what}, not a float array (float32/float64)"
    out = np.asarray(out)
    err = kernels.max_abs_error(out, reference)
    margin, tol = kernels.error_margin(out, reference, tolerance)
    columns = dict(max_abs_err=err, tolerance=tol, error_margin=margin)
    if margin <= 1.0:
        return columns, None
    if shape != reference.shape:
        return columns, f"output shape {shape} != {reference.shape}"
    return columns, f"max abs error {err:.3g} > tolerance {tol:.3g} (error/tolerance {margin:.3g})"


def combine_passes(results: list[PointResult], config: TimingConfig) -> PointResult:
    """One point measured in several passes: pool the samples of ok passes; a pass not ok decides instead.

    Passes are spread over the sweep (each with a fresh ``prepare``), so an episode
    of interference on a shared machine hits one pass, not the pooled median.
    """
    for result in results:
        if result.status != "ok":
            return result
    if len(results) == 1:
        return results[0]
    times = tuple(t for r in results for t in r.samples_s)
    first = results[0].row
    rounds = RoundTimes(times, first["calls_per_round"], converged=median_rel_ci(times) <= config.target_rel_ci,
                        warmup_s=sum(r.row.get("warmup_s") or 0.0 for r in results),
                        steady=all(r.row.get("steady", True) for r in results))
    return PointResult(dict(finish_row(first, rounds, config), passes=len(results)), times)


@functools.lru_cache(maxsize=1)
def host_flusher() -> HostCacheFlusher:
    """The process's one CPU cache flusher (its buffer is allocated on first use)."""
    return HostCacheFlusher()


def cold_flush(prepared) -> Callable[[], None]:
    """What ``--cold`` runs before each round: the backend's device-cache flush, else the host's caches."""

    def flush() -> None:
        if not prepared.flush_device_cache():
            host_flusher()()

    return flush
