"""How far this machine's own speed drifts: fixed single-thread kernels timed in turn, window after window.

A gate compares two runs made minutes apart; whatever the machine does to a kernel's speed in between
is noise that no statistic of one run can see. :func:`speed_trace` times a few fixed workloads in
turn, each for a short window (the length of one pytest-benchmark benchmark), in CPU seconds of this
process with one thread (so neither a neighbour holding our vCPU nor a barrier counts), and
:func:`drift_summary` says how far the windows of each workload spread, how often two windows agree
within a tolerance (what two runs of a benchmark that long can hope for), and whether the workloads
move together (the machine) or apart (the kernels).

Measured on the shared 2-vCPU Intel Xeon VM (AVX-512, 2026-12-03), one process, 90 s, 0.5 s windows:
numba-cpu on ResNet-50's conv4 3x3 s2 ran between 0.68x and 1.27x of its median (p5/p95), torch's
3a 5x5 0.65-1.29x, a NumPy GEMM 0.75-1.22x, in steps that held for 5-20 s, the three together
(correlation of their log speeds 0.69-0.78) - CPU time of one thread, so the host, not our process.
A quieter 45 s on the same VM: sd 0.04-0.07 in log.
"""
from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable

#: Length of one window (seconds of wall time), about one pytest-benchmark benchmark's timed rounds.
WINDOW_S = 0.5
#: Two windows "agree" when their ratio lies within this relative tolerance (the gate's default threshold).
TOLERANCE = 0.10
TRACE_COLUMNS = ["window", "workload", "start_s", "per_call_s", "calls"]
SUMMARY_COLUMNS = ["workload", "windows", "median_per_call_s", "p5_ratio", "p95_ratio", "sd_log", "pairs_within",
                   "co_movement"]


def speed_trace(workloads: dict[str, Callable[[], object]], seconds: float, window_s: float = WINDOW_S,
                clock: Callable[[], float] = time.process_time, wall: Callable[[], float] = time.perf_counter,
                progress: Callable[[float], None] | None = None):
    """Time each workload in turn for ``window_s`` (``wall`` seconds) until ``seconds`` have passed; a DataFrame of
    :data:`TRACE_COLUMNS`, one row per workload and window: the median of its calls' ``clock`` times.

    ``workloads`` maps a name to a call that does a fixed piece of work (prepared beforehand); ``progress`` is
    called with the seconds done after each round of windows. Raises ValueError for no workload or a
    non-positive duration."""
    import numpy as np
    import pandas as pd

    if not workloads:
        raise ValueError("speed_trace needs at least one workload")
    if not (seconds > 0 and window_s > 0 and math.isfinite(seconds) and math.isfinite(window_s)):
        raise ValueError(f"seconds and window_s must be finite and > 0, got {seconds!r} and {window_s!r}")
    rows, start = [], wall()
    for window in itertools.count():
        for name, call in workloads.items():
            times, opened = [], wall()
            while not times or wall() - opened < window_s:
                t0 = clock()
                call()
                times.append(clock() - t0)
            rows.append(dict(window=window, workload=name, start_s=opened - start,
                             per_call_s=float(np.median(times)), calls=len(times)))
        if progress is not None:
            progress(wall() - start)
        if wall() - start >= seconds:
            return pd.DataFrame(rows, columns=TRACE_COLUMNS)


def drift_summary(trace, tolerance: float = TOLERANCE):
    """Per workload of a :func:`speed_trace`: the windows' median per-call time, their 5th and 95th percentiles
    as ratios to it, the sd of their log, the fraction of all pairs of windows whose ratio lies within
    ``1 +/- tolerance`` (``pairs_within``), and ``co_movement``: the correlation of its log time with the mean
    of the other workloads' (near 1: the machine moved; NaN with one workload or a constant series)."""
    import numpy as np
    import pandas as pd

    wide = trace.pivot(index="window", columns="workload", values="per_call_s").dropna()
    logs = np.log(wide)
    rows = []
    for name in wide.columns:
        values, med = wide[name].to_numpy(), float(wide[name].median())
        ratios = values[:, None] / values[None, :]
        upper = ratios[np.triu_indices(len(values), k=1)]
        within = float(np.mean(np.abs(upper - 1) <= tolerance)) if len(upper) else math.nan
        others = logs.drop(columns=name).mean(axis=1) if wide.shape[1] > 1 else None
        together = math.nan
        if others is not None and len(values) > 2 and logs[name].std() > 0 and others.std() > 0:
            together = float(np.corrcoef(logs[name], others)[0, 1])
        rows.append(dict(workload=name, windows=len(values), median_per_call_s=med,
                         p5_ratio=float(np.percentile(values, 5)) / med,
                         p95_ratio=float(np.percentile(values, 95)) / med,
                         sd_log=float(logs[name].std(ddof=1)) if len(values) > 1 else math.nan,
                         pairs_within=within, co_movement=together))
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def default_workloads() -> dict[str, Callable[[], None]]:
    """The fixed workloads of ``harness calibrate --drift-s``: a 256x256 float32 NumPy GEMM and, where available,
    numba-cpu and torch on Inception 3a's 5x5 convolution (prepared here: JIT and first calls not timed).
    Run them inside :func:`harness.threads.thread_limits` (1) for one thread."""
    import numpy as np

    import kernels

    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, (256, 256)).astype(np.float32)
    out: dict[str, Callable[[], None]] = {"numpy GEMM 256": lambda: a @ a}
    spec = kernels.ConvSpec(N=1, C=16, H=28, W=28, F=32, k=5, stride=1, padding=2)
    for backend in ("numba-cpu", "torch"):
        impl = kernels.get_backend(backend)
        if impl.unavailable_reason() or impl.device != "cpu":
            continue
        x = rng.uniform(-1, 1, spec.x_shape).astype(spec.dtype)
        w = rng.uniform(-1, 1, spec.w_shape).astype(spec.dtype)
        prepared = impl.prepare(x, w, spec)

        def call(prepared=prepared):
            prepared()
            prepared.sync()

        call()
        out[f"{backend} 3a 5x5"] = call
    return out
