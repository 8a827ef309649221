"""One pass of one point: availability -> prepare -> first call -> correctness -> timed rounds -> row.

The one measure function of every point, of either kind: a convolution backend on a
:class:`harness.cases.Case`, or a fused chain backend on a :class:`harness.fused.ChainCase`
(``prepare_chain`` on the branch's three inputs). :func:`measure_point` never raises for a
backend's failure: an exception (even ``sys.exit``) becomes a ``failed`` row with the error
in ``reason``, a wrong answer a ``wrong`` row, a point too slow for its budget a ``skipped``
row with the estimate.
"""
from __future__ import annotations

import functools
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

import kernels

from .backends import implementation
from .casedata import CaseData, make_case_data
from .rows import PointResult, base_row, error_reason, finish_row
from .timing import HostCacheFlusher, TimingConfig, time_rounds

#: The tiny layer slow backends (those with ``max_flops_per_call``) are calibrated on.
CALIBRATION_SHAPE = dict(N=1, C=4, H=6, W=6, F=4, k=3, stride=1, padding=1)
#: Timed calls of the calibration (after an untimed one); its rate is the best.
CALIBRATION_CALLS = 5


@dataclass
class SpeedEstimator:
    """Calibrates slow backends (those with ``max_flops_per_call``) once on a tiny layer.

    A calibration call costs the lesser of its wall time (``clock``) and this process's CPU time (``cpu_clock``;
    by default ``time.process_time`` with the real wall clock, the injected ``clock`` otherwise): the backends
    calibrated run on one thread, so beside busy processes their CPU time is their work while the wall clock also
    counts the time others held the cores, and where a library thread left spinning adds CPU time the wall clock
    caps it (a CPU clock too coarse to see the call, 0, leaves the wall time). On the wall clock alone, a CI run
    of the suite (two test workers and a sweep's workers on 2 vCPUs, AMD EPYC Zen 1) most likely calibrated naive
    so slowly that a smoke point was estimated over its budget and ``skipped`` (not reproduced beside four busy
    loops)."""

    clock: Callable[[], float] = time.perf_counter
    rates: dict = field(default_factory=dict)
    cpu_clock: Callable[[], float] | None = None

    def __post_init__(self):
        if self.cpu_clock is None:
            self.cpu_clock = time.process_time if self.clock is time.perf_counter else self.clock

    def estimate_call_s(self, impl, spec) -> float | None:
        """Estimated seconds per call of ``impl`` on ``spec``, or None for backends not needing it (or chains)."""
        if impl.max_flops_per_call() is None or not hasattr(impl, "prepare"):
            return None
        if impl.name not in self.rates:
            cal = kernels.ConvSpec(dtype=spec.dtype, **CALIBRATION_SHAPE)
            x = np.ones(cal.x_shape, cal.dtype)
            w = np.ones(cal.w_shape, cal.dtype)
            prepared = impl.prepare(x, w, cal)
            prepared()  # untimed: a worker fresh from its fork pays copy-on-write faults in its first calls (on the
            prepared.sync()  # Intel VM the best of three cold calls put naive's smoke 3x3 at 13 ms, ~8x its speed)
            best = float("inf")
            for _ in range(CALIBRATION_CALLS):
                t0, c0 = self.clock(), self.cpu_clock()
                prepared()
                prepared.sync()
                wall_s, cpu_s = self.clock() - t0, self.cpu_clock() - c0
                best = min(best, wall_s, cpu_s if cpu_s > 0 else wall_s)  # a coarse CPU clock can read 0
            self.rates[impl.name] = cal.flops / max(best, 1e-9)
        return spec.flops / self.rates[impl.name]


def skip_reason(impl, spec, config: TimingConfig, *, timed: bool, estimator: SpeedEstimator,
                point_budget_s: float | None, passes: int) -> str | None:
    """Why a point is ``skipped`` before it is prepared (the chain unsupported, over the backend's FLOP limit, or
    estimated over the point's budget), or None. The budget meant is the whole point's, all passes together."""
    unsupported = getattr(impl, "unsupported_reason", None)
    reason = unsupported(spec) if unsupported else None
    if reason:
        return reason
    limit = impl.max_flops_per_call()
    if limit is not None and spec.flops > limit:
        return f"{spec.flops / 1e6:.1f} MFLOP per call exceeds {impl.name}'s limit of {limit / 1e6:.1f} MFLOP"
    est = estimator.estimate_call_s(impl, spec)
    will_time = timed and impl.timing_unsupported_reason() is None
    calls = 1 + (config.min_rounds + 1 if will_time else 0)
    passes = passes if will_time else 1
    budget_s = point_budget_s or config.budget_s * passes
    if est is not None and est * calls * passes > budget_s:
        times = f" x {passes} passes" if passes > 1 else ""
        return (f"estimated {est:.2g} s per call x {calls} calls{times} exceeds the point's {budget_s:.3g} s "
                "budget (--budget-s)")
    return None


def measure_point(backend: str, case, data: CaseData | None, config: TimingConfig, *, run_id: str = "",
                  timed: bool = True, clock: Callable[[], float] = time.perf_counter,
                  estimator: SpeedEstimator | None = None, point_budget_s: float | None = None,
                  passes: int = 1, wall: Callable[[], float] | None = None,
                  pace: Callable[[], float] | None = None) -> PointResult:
    """Measure one pass of ``backend`` on ``case`` (a Case or a ChainCase); never raises for backend errors.

    ``config.budget_s`` is this pass's budget; ``point_budget_s`` (default: ``passes`` times it) the whole
    point's, which bounds the cost estimate and a correctness-only run. ``wall``: a wall clock to size rounds
    with when ``clock`` counts CPU time (:func:`harness.timing.time_rounds`); ``pace``: the probe timed after every
    round (:mod:`harness.pace`), whose median goes in the row's ``pace_s``.
    """
    impl = implementation(backend, case.kind)
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
        reason = skip_reason(impl, spec, config, timed=timed, estimator=estimator or SpeedEstimator(clock),
                             point_budget_s=point_budget_s, passes=passes)
        if reason:
            return PointResult(dict(row, status="skipped", reason=reason))
        return run_protocol(impl, spec, data, config, row, timed=timed, clock=clock, wall=wall, pace=pace)
    except (Exception, SystemExit, KeyboardInterrupt) as exc:  # a backend's failure (even sys.exit) is data
        return failed_point(row, stage, exc)


def failed_point(row: dict, stage: str, exc: BaseException) -> PointResult:
    """The ``failed`` point of ``exc`` raised at ``stage``; a Ctrl-C (a KeyboardInterrupt the kernel did not raise
    itself, :func:`kernel_raised`) is raised again: it stops the sweep."""
    if isinstance(exc, KeyboardInterrupt) and not kernel_raised():
        raise exc
    return PointResult(dict(row, status="failed", reason=failure_reason(stage, exc)))


def kernel_raised() -> bool:
    """Whether a KeyboardInterrupt caught here is the kernel's own raise rather than Ctrl-C: a worker ignores SIGINT
    (the sweep's process takes it), so there one can only come from the code it runs - a ``failed`` row, not a stop."""
    return signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def failure_reason(stage: str, exc: BaseException) -> str:
    """The ``failed`` row's reason for ``exc`` raised at ``stage`` (``sys.exit`` in a kernel said as such)."""
    if isinstance(exc, SystemExit):
        return f"{stage}: the kernel called sys.exit({exc.code!r})"
    return error_reason(stage, exc)


def run_protocol(impl, spec, data: CaseData, config: TimingConfig, row: dict, *, timed: bool,
                 clock: Callable[[], float], wall: Callable[[], float] | None = None,
                 pace: Callable[[], float] | None = None) -> PointResult:
    """prepare -> first call -> check against the reference -> (timed) rounds, for a validated point."""
    stage = "prepare"
    try:
        t0 = clock()
        prepare = impl.prepare_chain if data.w_conv is not None else impl.prepare
        prepared = prepare(*data.inputs, spec)
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
        rounds = time_rounds(prepared, prepared.sync, config, clock=clock, timer=prepared.event_timer(), flush=flush,
                             wall=wall, pace=pace)
        return PointResult(finish_row(row, rounds, config), rounds.times_s)
    except (Exception, SystemExit, KeyboardInterrupt) as exc:
        return failed_point(row, stage, exc)


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
    finite = np.isfinite(out)
    if not finite.all():  # said as such: "max abs error inf" hides whether a NaN or an overflow broke it
        nan = int(np.isnan(out).sum())
        return columns, (f"output holds {nan} NaN and {int((~finite).sum()) - nan} infinite value(s) of {out.size} "
                         f"(the reference is finite)")
    return columns, f"max abs error {err:.3g} > tolerance {tol:.3g} (error/tolerance {margin:.3g})"


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
