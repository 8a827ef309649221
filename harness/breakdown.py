"""Where the lost part of the FLOP saving goes: the reduction study split into parts, and the roofline prediction.

For a branch on one backend, the FLOP-proportional ideal is the reduced pair run at the direct
layer's GFLOP/s: ``ideal_s = (flops_reduce + flops_conv) / (flops_direct / time_direct_s)``. What the
pair takes beyond it, ``lost_s = time_reduced_s - ideal_s``, splits exactly into:

- ``lost_reduce_s``: the 1x1 reduce running below the direct layer's throughput (it does few FLOPs
  per byte: its roofline bound, ``reduce_bound_s``, is usually the memory roof);
- ``lost_conv_s``: the kxk convolution on few input channels running below it;
- ``lost_call_s``: fixed per-call cost - the pair makes two calls where the direct makes one. Each
  backend's per-call cost ``call_s`` is the intercept of a fit ``time_s = call_s + flops / rate``
  over all its timed rows in the run (weighted by 1/time, so small layers count), clipped at 0.

With ``c = call_s`` and ``F`` the FLOPs: ``lost_call_s = 2c - c (F_reduce + F_conv) / F_direct``,
``lost_reduce_s = time_reduce_s - F_reduce / rate_direct - c (1 - F_reduce / F_direct)`` and
likewise for the conv, so the three add up to ``lost_s``. A part can be negative (that layer ran
faster per FLOP than the direct one).

The prediction: each layer's best time on this machine is its roofline bound, ``max(flops / FMA roof
GFLOP/s, bytes / STREAM triad GB/s)`` (:mod:`harness.roof`); ``predicted_saving`` is the direct layer's bound over the pair's.
"""
from __future__ import annotations

import math

import numpy as np

from .roof import drawn_roofs

PART_COLUMNS = ["ideal_s", "lost_s", "lost_reduce_s", "lost_conv_s", "lost_call_s", "call_s",
                "reduce_bound_s", "reduce_memory_bound", "predicted_saving", "roof_device"]


def per_call_cost(table, backend: str, dtype: str, threads) -> float:
    """Intercept of ``time_s = call_s + flops * b`` over a backend's timed rows (weights 1/time), >= 0."""
    rows = table[(table["backend"] == backend) & (table["status"] == "ok") & (table["dtype"] == dtype)
                 & (table["threads"].astype(str) == str(threads))]
    if len(rows) < 3 or rows["flops"].nunique() < 2:
        return 0.0
    t = rows["time_s"].to_numpy(float)
    design = np.column_stack([np.ones_like(t), rows["flops"].to_numpy(float)]) / t[:, None]
    (call_s, _), *_ = np.linalg.lstsq(design, np.ones_like(t), rcond=None)
    return max(float(call_s), 0.0)


def roofline_bound_s(flops: float, nbytes: float, peak: dict | None, dtype: str, threads: int = 0,
                     device: str = "cpu") -> float:
    """A layer's best time on this machine: max(flops / compute roof, bytes / memory roof) with the roofs of
    :func:`harness.roof.drawn_roofs` at ``threads`` (0: all the roof's threads) on ``device``; NaN without a
    peak."""
    gflops, bandwidth, _ = drawn_roofs(peak, dtype, threads or int((peak or {}).get("threads") or 1), device)
    return bound_s(flops, nbytes, gflops, bandwidth)


def bound_s(flops: float, nbytes: float, gflops: float | None, bandwidth: float | None) -> float:
    """max(flops / compute roof, bytes / memory roof) in seconds; NaN without either roof."""
    if not gflops or not bandwidth:
        return math.nan
    return max(flops / (gflops * 1e9), nbytes / (bandwidth * 1e9))


def parts(r: dict, call_s: float) -> dict:
    """The ideal time and the three lost parts of one reduction row (see the module docstring)."""
    f_d, f_r, f_c = r["flops_direct"], r["flops_reduce"], r["flops_conv"]
    rate = f_d / r["time_direct_s"]
    ideal = (f_r + f_c) / rate
    lost_call = 2 * call_s - call_s * (f_r + f_c) / f_d
    lost_reduce = r["time_reduce_s"] - f_r / rate - call_s * (1 - f_r / f_d)
    lost_conv = r["time_conv_s"] - f_c / rate - call_s * (1 - f_c / f_d)
    return dict(ideal_s=ideal, lost_s=r["time_reduced_s"] - ideal, lost_reduce_s=lost_reduce,
                lost_conv_s=lost_conv, lost_call_s=lost_call, call_s=call_s)


def add_parts(reduction, table, peak: dict | None = None):
    """``reduction`` (from :func:`harness.reduction.reduction_table`) with ``PART_COLUMNS`` filled in."""
    if reduction is None or reduction.empty:
        return reduction
    rows = []
    calls: dict = {}
    for r in reduction.to_dict("records"):
        key = (r["backend"], r["dtype"], r["threads"])
        if key not in calls:
            calls[key] = per_call_cost(table, *key)
        row = dict(r, **parts(r, calls[key]))
        devices = set(table.loc[table["backend"] == r["backend"], "device"]) if "device" in table else {"cpu"}
        device = devices.pop() if len(devices) == 1 else None  # the GPU's roof bounds a GPU backend
        if device not in ("cpu", "cuda"):  # two devices, or one no measured roof describes (a plugin's "mps")
            rows.append(dict(row, reduce_bound_s=math.nan, reduce_memory_bound=False, predicted_saving=math.nan,
                             roof_device=""))
            continue
        threads = int(r["threads"]) if str(r["threads"]).isdigit() else 0
        gflops, bandwidth, _ = drawn_roofs(peak, r["dtype"], threads or int((peak or {}).get("threads") or 1), device)
        bounds = [bound_s(r[f"flops_{role}"], r[f"bytes_{role}"], gflops, bandwidth)
                  for role in ("direct", "reduce", "conv")]
        memory = r["bytes_reduce"] / (bandwidth or math.inf) > r["flops_reduce"] / (gflops or math.inf)
        saving = bounds[0] / (bounds[1] + bounds[2])
        row.update(reduce_bound_s=bounds[1], reduce_memory_bound=bool(memory), predicted_saving=saving,
                   roof_device=device if saving == saving else "")
        rows.append(row)
    import pandas as pd

    return pd.DataFrame(rows, columns=list(reduction.columns) + [c for c in PART_COLUMNS if c not in reduction])

