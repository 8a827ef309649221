"""Rows of a run table: what a finished point is (:class:`PointResult`) and how its columns are filled.

``base_row`` holds what does not depend on measuring (identity, shape, work);
``finish_row`` adds the timing columns from a point's rounds; ``failed_point``
is the row of a point that could not be measured at all.
"""
from __future__ import annotations

import socket
from dataclasses import dataclass

from .benchdnn import format_descriptor, parse_descriptor
from .cases import Case
from .timing import RoundTimes, TimingConfig

#: Longest error message kept in a row's ``reason`` (one cut-off for every executor).
MAX_REASON_CHARS = 500


@dataclass
class PointResult:
    """A finished point (or one pass of it): its table row and its per-round samples (seconds per call)."""

    row: dict
    samples_s: tuple[float, ...] = ()

    @property
    def status(self) -> str:
        """The row's status."""
        return self.row["status"]


def error_reason(stage: str, exc: BaseException) -> str:
    """``"STAGE: Type: message"`` on one line, cut to ``MAX_REASON_CHARS``: the reason of a failed row."""
    try:
        text = str(exc)
    except Exception as inner:  # noqa: BLE001 - an exception whose __str__ raises still names the stage it broke
        text = f"(its message could not be read: {type(inner).__name__})"
    message = " ".join(f"{type(exc).__name__}: {text}".split())
    return f"{stage}: {message}"[:MAX_REASON_CHARS]


def base_row(run_id: str, backend: str, device: str, case: Case) -> dict:
    """The columns of a row that do not depend on measuring (identity, shape, work), of a Case or a ChainCase."""
    row = dict(run_id=run_id, backend=backend, device=device, **case.fields(), host=socket.gethostname(), reason="")
    try:
        spec = case.spec
    except (TypeError, ValueError):
        return row
    if case.kind == "chain":  # the conv stage's output shape; the pair's work; no single benchdnn descriptor
        conv = spec.conv
        return dict(row, padding=conv.padding, Ho=conv.Ho, Wo=conv.Wo, flops=spec.flops, bytes=spec.bytes,
                    arithmetic_intensity=spec.arithmetic_intensity, desc="")
    row.update(padding=spec.padding, Ho=spec.Ho, Wo=spec.Wo, flops=spec.flops, bytes=spec.bytes,
               arithmetic_intensity=spec.arithmetic_intensity,
               desc=format_descriptor(spec.N, spec.C, spec.H, spec.W, spec.F, spec.k, spec.stride, spec.padding))
    return row


def unsupported_rows(run_id: str, backends, unsupported, dtype: str = "float32", threads: int = 1) -> list[dict]:
    """``skipped`` rows (one per backend) for the convolutions of a layer file the kernels cannot run.

    ``unsupported`` holds :class:`harness.layerfile.Unsupported` entries (label, reason, desc, count);
    the shape columns come from parsing the benchdnn descriptor, where it parses.
    """
    import kernels

    rows = []
    for entry in unsupported:
        try:
            d = parse_descriptor(entry.desc)
            shape = dict(N=d.mb, C=d.ic, H=d.ih, W=d.iw, F=d.oc, k=d.kh, stride=d.sh, padding=d.ph, Ho=d.oh,
                         Wo=d.ow)
        except ValueError:
            shape = {}
        for backend in backends:
            device = kernels.get_backend(backend).device if backend in kernels.list_backends() else "?"
            rows.append(dict(run_id=run_id, backend=backend, device=device, case=entry.label, layer=entry.label,
                             count=entry.count, desc=entry.desc, status="skipped", host=socket.gethostname(),
                             dtype=dtype, threads=threads,
                             reason=f"not runnable by convbench's kernels: {entry.reason}"[:MAX_REASON_CHARS],
                             **shape))
    return rows


def failed_point(run_id: str, backend: str, device: str, case: Case, reason: str) -> PointResult:
    """A ``failed`` row for a point that could not be measured at all."""
    return PointResult(dict(base_row(run_id, backend, device, case), status="failed",
                            reason=reason[:MAX_REASON_CHARS]))


def finish_row(row: dict, rounds: RoundTimes, config: TimingConfig) -> dict:
    """Fill the timing columns from ``rounds`` (and the row's flops/bytes); a wide median CI goes in ``reason``."""
    time_s = rounds.median_s
    reason = "" if rounds.converged else \
        f"median CI +/-{100 * rounds.rel_ci:.1f}% above the {100 * config.target_rel_ci:g}% target " \
        "when the budget ran out"
    return dict(row, status="ok", reason=reason, time_s=time_s, time_min_s=rounds.min_s, time_iqr_s=rounds.iqr_s,
                rounds=len(rounds.times_s), calls_per_round=rounds.calls_per_round, rel_ci=rounds.rel_ci,
                passes=1, gflops=row["flops"] / time_s / 1e9, gbytes_per_s=row["bytes"] / time_s / 1e9,
                warmup_s=rounds.warmup_s, steady=rounds.steady,
                **({"pace_s": rounds.pace_median_s} if rounds.pace_s else {}))
