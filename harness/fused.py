"""Fused reduce-then-convolve points: every reduction branch measured once more as one chain call.

For each branch of a sweep (its 1x1 ``reduce`` case and its kxk ``conv`` case, at the same batch,
dtype and threads), a fused chain backend (``numba-cpu-fused``) computes both convolutions in one
pass. Its point follows the protocol of any other - prepare, first call, check against the float64
chain reference, settle, timed rounds - and becomes a row with ``role = "fused"`` whose ``flops``
are the pair's, so the reduction study can put the fused time beside the unfused pair.
"""
from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

import kernels

from .cases import Case
from .measure import check_output
from .rows import PointResult, base_row, error_reason, finish_row
from .timing import TimingConfig, time_rounds

FUSED_ROLE = "fused"
#: chain backend -> the conv backend whose unfused pair it is compared with.
FUSED_BACKENDS = {"numba-cpu-fused": "numba-cpu"}


def branch_pairs(cases) -> list[tuple[Case, Case]]:
    """(reduce case, conv case) of every branch at every combination of the other axes, in sweep order."""
    found: dict[tuple, dict] = {}
    for case in cases:
        layer = case.layer
        if layer.role in ("reduce", "conv"):
            suffix = case.name[len(layer.label):]
            found.setdefault((layer.branch, suffix), {})[layer.role] = case
    return [(p["reduce"], p["conv"]) for p in found.values() if {"reduce", "conv"} <= set(p)]


def fused_name(conv_case: Case) -> str:
    """``"3a 5x5 fused N=1"``: the branch, "fused", and the axis values of the conv case's name."""
    return f"{conv_case.layer.branch} fused{conv_case.name[len(conv_case.layer.label):]}"


def chain_row(run_id: str, backend: str, device: str, reduce_case: Case, conv_case: Case, spec) -> dict:
    """The identity and work columns of a fused point (the input's C, the conv's shape, the pair's FLOPs)."""
    name = fused_name(conv_case)
    row = dict(base_row(run_id, backend, device, conv_case), case=name, layer=name, role=FUSED_ROLE, desc="",
               C=reduce_case.layer.C, count=1)
    if spec is not None:
        row.update(flops=spec.flops, bytes=spec.bytes, arithmetic_intensity=spec.arithmetic_intensity)
    return row


def measure_chain(backend: str, reduce_case: Case, conv_case: Case, config: TimingConfig, *, run_id: str = "",
                  clock: Callable[[], float] = time.perf_counter, seed: int = 0) -> PointResult:
    """Measure chain ``backend`` on one branch; never raises for the backend's failure (a failed row instead)."""
    impl = kernels.get_chain_backend(backend)
    row = chain_row(run_id, backend, impl.device, reduce_case, conv_case, None)
    stage = "building the chain"
    try:
        spec = kernels.ChainSpec(reduce=reduce_case.spec, conv=conv_case.spec)
        row = chain_row(run_id, backend, impl.device, reduce_case, conv_case, spec)
        reason = impl.unavailable_reason()
        if reason:
            return PointResult(dict(row, status="unavailable", reason=reason))
        reason = impl.unsupported_reason(spec) or impl.timing_unsupported_reason()
        if reason:
            return PointResult(dict(row, status="skipped", reason=reason))
        rng = np.random.default_rng(seed)
        x = rng.uniform(-1, 1, spec.reduce.x_shape).astype(spec.reduce.dtype)
        w1 = rng.uniform(-1, 1, spec.reduce.w_shape).astype(spec.reduce.dtype)
        w2 = rng.uniform(-1, 1, spec.conv.w_shape).astype(spec.conv.dtype)
        stage = "prepare"
        t0 = clock()
        prepared = impl.prepare_chain(x, w1, w2, spec)
        row["prepare_s"] = clock() - t0
        stage = "first call"
        prepared()
        prepared.sync()
        row["first_call_s"] = clock() - t0
        stage = "checking the result"
        columns, wrong = check_output(prepared.result(), kernels.reference_chain(x, w1, w2, spec),
                                      kernels.chain_tolerance(x, w1, w2, spec))
        row.update(columns)
        if wrong:
            return PointResult(dict(row, status="wrong", reason=wrong))
        stage = "timing"
        rounds = time_rounds(prepared, prepared.sync, config, clock=clock, timer=prepared.event_timer())
        return PointResult(finish_row(row, rounds, config), rounds.times_s)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # a backend's failure is data, not a crash
        return PointResult(dict(row, status="failed", reason=error_reason(stage, exc)))


def fused_points(cases, backends) -> list[tuple[str, Case, Case]]:
    """(chain backend, reduce case, conv case) to measure: a fused backend whose unfused twin is in ``backends``."""
    chains = [name for name, base in FUSED_BACKENDS.items() if base in backends
              and name in kernels.list_chain_backends()]
    return [(name, r, c) for r, c in branch_pairs(cases) for name in chains]


def run_fused_points(points, config: TimingConfig, writer, *, run_id: str, first_point: int, done: set,
                     peak: dict | None = None, settler=None, on_step=None, on_done=None, stats=None) -> None:
    """Measure ``points`` (from :func:`fused_points`) after the sweep's own points; append each row at once.

    Rows already in ``done`` (a resumed run) are kept; rows get trust flags and the point index after
    ``first_point``.
    """
    from .layers import POINT_KEY
    from .threads import thread_limits
    from .trust import with_trust

    for i, (backend, reduce_case, conv_case) in enumerate(points):
        identity = chain_row(run_id, backend, "cpu", reduce_case, conv_case, None)
        if tuple(str(identity[c] if c != "backend" else backend) for c in POINT_KEY) in done:
            continue
        with thread_limits(conv_case.threads):
            if settler:
                settler.before_point()
            result = measure_chain(backend, reduce_case, conv_case, config, run_id=run_id)
            if settler:
                settler.after_point()
        result.row = dict(with_trust(result.row, config.target_rel_ci, peak), point=first_point + i)
        writer.append(result.row, result.samples_s)
        if stats is not None:
            stats.add(result)
        if on_step:
            on_step(1)
        if on_done:
            on_done(result)
