"""One point of a sweep: availability -> prepare -> first call -> correctness -> timed rounds -> row.

:func:`measure_point` never raises for a backend's failure: an exception becomes
a ``failed`` row with the error in ``reason``, a wrong answer a ``wrong`` row,
a point too slow for its budget a ``skipped`` row with the estimate.
"""
from __future__ import annotations

import functools
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

import kernels

from .cases import Case
from .timing import HostCacheFlusher, RoundTimes, TimingConfig, median_rel_ci, time_rounds

#: The tiny layer slow backends (those with ``max_flops_per_call``) are calibrated on.
CALIBRATION_SHAPE = dict(N=1, C=4, H=6, W=6, F=4, k=3, stride=1, padding=1)


@dataclass
class PointResult:
    """A finished point: its table row and its per-round samples (seconds per call)."""

    row: dict
    samples_s: tuple[float, ...] = ()

    @property
    def status(self) -> str:
        """The row's status."""
        return self.row["status"]


@dataclass
class CaseData:
    """Inputs and float64 reference for one case, shared by every backend."""

    x: np.ndarray
    w: np.ndarray
    reference: np.ndarray
    tolerance: float


def make_case_data(case: Case, seed: int = 0) -> CaseData:
    """Seeded uniform(-1, 1) inputs for ``case`` and their float64 reference output."""
    spec = case.spec
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, spec.x_shape).astype(spec.dtype)
    w = rng.uniform(-1.0, 1.0, spec.w_shape).astype(spec.dtype)
    return CaseData(x, w, kernels.reference_conv2d(x, w, spec), kernels.tolerance(x, w, spec))


def case_data_or_problem(case: Case) -> tuple[CaseData | None, str | None]:
    """(inputs and reference, None) for a valid case; (None, "invalid case: ...") for an impossible one."""
    try:
        return make_case_data(case), None
    except (TypeError, ValueError) as exc:
        return None, f"invalid case: {exc}"


def failed_point(run_id: str, backend: str, device: str, case: Case, reason: str) -> PointResult:
    """A ``failed`` row for a point that could not be measured at all."""
    return PointResult(dict(base_row(run_id, backend, device, case), status="failed", reason=reason))


def base_row(run_id: str, backend: str, device: str, case: Case) -> dict:
    """The columns of a row that do not depend on measuring (shape, work, identity)."""
    row = dict(run_id=run_id, backend=backend, device=device, case=case.name, N=case.N, C=case.C, H=case.H,
               W=case.W, F=case.F, k=case.k, stride=case.stride, padding=case.padding, dtype=case.dtype,
               threads=case.threads, layer=case.layer, branch=case.branch, role=case.role,
               host=socket.gethostname(), reason="")
    try:
        spec = case.spec
    except (TypeError, ValueError):
        return row
    row.update(padding=spec.padding, Ho=spec.Ho, Wo=spec.Wo, flops=spec.flops, bytes=spec.bytes,
               arithmetic_intensity=spec.arithmetic_intensity)
    return row


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
            t0 = self.clock()
            prepared = impl.prepare(x, w, cal)
            prepared()
            prepared.sync()
            self.rates[impl.name] = cal.flops / max(self.clock() - t0, 1e-9)
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
        row.update(h2d_s=getattr(prepared, "h2d_s", None), d2h_s=getattr(prepared, "d2h_s", None))
        err = kernels.max_abs_error(np.asarray(out), data.reference)
        row.update(max_abs_err=err, tolerance=data.tolerance)
        if not err <= data.tolerance:
            shape = getattr(out, "shape", None)
            what = f"output shape {shape} != {spec.out_shape}" if shape != spec.out_shape else \
                f"max abs error {err:.3g} > tolerance {data.tolerance:.3g}"
            return PointResult(dict(row, status="wrong", reason=what))
        if not timed:
            return PointResult(dict(row, status="ok"))
        not_timed = impl.timing_unsupported_reason()
        if not_timed:
            return PointResult(dict(row, status="skipped", reason=not_timed))
        stage = "timing"
        # --cold: a GPU backend's Prepared.flush_cache evicts the device's L2; CPU caches are flushed here
        flush = getattr(prepared, "flush_cache", None) if impl.device == "cuda" else None
        flush = flush or (host_flusher() if config.cold else None)
        rounds = time_rounds(prepared, prepared.sync, config, clock=clock, timer=prepared.event_timer(), flush=flush)
        return PointResult(finish_row(row, rounds, config), rounds.times_s)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # a backend's failure is data, not a crash
        message = " ".join(f"{type(exc).__name__}: {exc}".split())[:500]
        return PointResult(dict(row, status="failed", reason=f"{stage}: {message}"))


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
    rounds = RoundTimes(times, first["calls_per_round"], converged=median_rel_ci(times) <= config.target_rel_ci)
    return PointResult(dict(finish_row(first, rounds, config), passes=len(results)), times)


@functools.lru_cache(maxsize=1)
def host_flusher() -> HostCacheFlusher:
    """The process's one CPU cache flusher (its buffer is allocated on first use)."""
    return HostCacheFlusher()


def finish_row(row: dict, rounds: RoundTimes, config: TimingConfig) -> dict:
    """Fill the timing columns from ``rounds`` (and the row's flops/bytes); a wide median CI goes in ``reason``."""
    time_s = rounds.median_s
    reason = "" if rounds.converged else \
        f"median CI +/-{100 * rounds.rel_ci:.1f}% above the {100 * config.target_rel_ci:g}% target " \
        "when the budget ran out"
    return dict(row, status="ok", reason=reason, time_s=time_s, time_min_s=rounds.min_s, time_iqr_s=rounds.iqr_s,
                rounds=len(rounds.times_s), calls_per_round=rounds.calls_per_round, rel_ci=rounds.rel_ci,
                passes=1, gflops=row["flops"] / time_s / 1e9, gbytes_per_s=row["bytes"] / time_s / 1e9)
